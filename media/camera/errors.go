package camera

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors; returned errors wrap them with the operation.
var (
	// ErrNoDevice: the node does not exist (ENOENT, ENODEV, ENXIO at open).
	ErrNoDevice = errors.New("camera: no such device")
	// ErrGone: the device vanished while streaming (unplugged).
	ErrGone = errors.New("camera: device gone")
	// ErrNotCapture: the node is no streaming video capture device.
	ErrNotCapture = errors.New("camera: not a streaming capture device")
	// ErrFormat: none of the wanted pixel formats is offered, or the
	// driver's layout is unusable.
	ErrFormat = errors.New("camera: no usable format")
	// ErrStalled: no frame arrived within Config.FrameTimeout.
	ErrStalled = errors.New("camera: no frame from the device")
	// ErrClosed: the camera was closed.
	ErrClosed = errors.New("camera: closed")
	// ErrConfig: Config failed validation.
	ErrConfig = errors.New("camera: invalid config")
)

func gone(err error) bool {
	return errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EBADF)
}

func wrap(op string, err error) error {
	if gone(err) {
		return fmt.Errorf("camera: %s: %w (%w)", op, ErrGone, err)
	}
	return fmt.Errorf("camera: %s: %w", op, err)
}
