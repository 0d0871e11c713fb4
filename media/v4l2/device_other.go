//go:build !(linux && (amd64 || arm64 || arm))

package v4l2

// Open is unavailable on this build: the struct layouts are only verified for
// Linux on amd64, arm64 and arm. Tests use v4l2fake.
func Open(path string) (Device, error) { return nil, ErrUnsupported }
