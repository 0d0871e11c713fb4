//go:build !unix

package siotest

import "os"

// lockFile is a no-op where flock is unavailable; `make npm` installs the
// packages before tests there.
func lockFile(string) (func(), error) { return func() {}, nil }

// Stop and Cont are unsupported off unix; Server.Stop skips the test.
var (
	sigStop os.Signal
	sigCont os.Signal
)
