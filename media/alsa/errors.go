package alsa

import (
	"errors"
	"syscall"
)

// ErrUnsupported: built for a system without ALSA.
var ErrUnsupported = errors.New("alsa: compiled without ALSA support (linux only)")

// ErrNoDevice: no PCM node of the wanted direction (or none matching a
// card hint).
var ErrNoDevice = errors.New("alsa: no such PCM device")

// ESTRPIPE (86, suspended) and EBADFD (77, stream in a bad state, as after
// a disconnect) from asm-generic/errno.h, the same on every Linux GOARCH.
const (
	errStrPipe = syscall.Errno(86)
	errBadFD   = syscall.Errno(77)
)

// Gone reports whether err means the device vanished (USB unplug),
// was suspended or is otherwise unusable until reopened.
func Gone(err error) bool {
	return errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EBADF) || errors.Is(err, errStrPipe) ||
		errors.Is(err, errBadFD)
}
