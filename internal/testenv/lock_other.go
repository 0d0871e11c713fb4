//go:build !unix

package testenv

// LockFile is a no-op where flock is unavailable; `make npm` installs the
// packages before tests there.
func LockFile(string) (func(), error) { return func() {}, nil }
