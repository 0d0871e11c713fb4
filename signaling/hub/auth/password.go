package auth

import "tether/internal/login"

// KDF holds argon2id cost parameters; hashing itself is internal/login's
// (one hasher for the hub and the setup page, under one process-wide gate).
type KDF = login.Params

// DefaultKDF is login.DefaultParams (OWASP's argon2id minimum).
var DefaultKDF = login.DefaultParams

// TestKDF is cheap, for tests only.
var TestKDF = KDF{Time: 1, MemoryKiB: 64, Threads: 1}
