package rig

import "os"

// GuestEnv is the environment variable the guest init sets to "1". Tests
// with the rig build tag check it (through InGuest) and skip on any other
// machine, so `go test -tags rig` on a host is harmless.
const GuestEnv = "TETHER_RIG_GUEST"

// InGuest reports whether this process runs inside the rig's guest.
func InGuest() bool { return os.Getenv(GuestEnv) == "1" }
