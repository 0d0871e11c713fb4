package auth

import "tether/internal/login"

// KDF holds argon2id cost parameters; hashing itself is internal/login's
// (one hasher for the hub and the setup page, under one process-wide gate).
type KDF = login.Params

// DefaultKDF is login.DefaultParams (OWASP's argon2id minimum).
var DefaultKDF = login.DefaultParams
