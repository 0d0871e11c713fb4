package rig

import "errors"

// Sentinel errors; callers match them with errors.Is.
var (
	// ErrUnsupportedArch is returned for an Options.Arch the rig cannot boot.
	ErrUnsupportedArch = errors.New("rig: unsupported arch")
	// ErrMissingPackages is returned when Debian packages the rig needs are
	// missing and cannot be installed (not root, or apt-get failed).
	ErrMissingPackages = errors.New("rig: missing packages")
	// ErrConfigDropped is returned when olddefconfig dropped or changed a
	// symbol the config fragment sets.
	ErrConfigDropped = errors.New("rig: kernel config symbols dropped")
	// ErrKernelBuild is returned when the kernel build fails.
	ErrKernelBuild = errors.New("rig: kernel build failed")
	// ErrNoTests is returned when the package patterns match no package with
	// test files.
	ErrNoTests = errors.New("rig: no test packages")
	// ErrLibNotFound is returned when a shared library a guest binary needs
	// is not in the userland root.
	ErrLibNotFound = errors.New("rig: shared library not found")
	// ErrGuestIncomplete is returned when qemu ended before the guest init
	// reported that every test binary had run.
	ErrGuestIncomplete = errors.New("rig: guest did not finish")
	// ErrTimeout is returned when the guest did not finish within
	// Options.Timeout.
	ErrTimeout = errors.New("rig: guest timed out")
	// ErrNotGuest is returned by guest-side helpers used outside Linux.
	ErrNotGuest = errors.New("rig: guest helpers need linux")
)
