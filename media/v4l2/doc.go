// Package v4l2 is the slice of the Linux videodev2 kernel ABI that Tether's
// media pipeline needs: ioctl numbers, struct layouts, pixel formats and codec
// control IDs, in pure Go over golang.org/x/sys/unix. It also defines the small
// ioctl-level Device interface, with a real implementation for Linux
// (device_linux.go) and, in v4l2fake beside it, a scriptable fake mem2mem H.264
// encoder so the code above it is unit-tested without a kernel.
//
// The layouts mirror include/uapi/linux/videodev2.h (kernel 6.1); the golden
// tests in abi_golden_test.go pin sizes, offsets and ioctl numbers for every
// GOARCH we ship (amd64, arm64, arm). On 32-bit arm the package speaks the
// classic 32-bit time_t ABI; see Timeval for why.
package v4l2
