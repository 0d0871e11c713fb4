package testenv

import "tether/internal/login"

// KDF is the cheap argon2id cost every test hashes passwords with (the
// product's cost is login.DefaultParams; a test that measures the real
// cost says so).
var KDF = login.Params{Time: 1, MemoryKiB: 64, Threads: 1}
