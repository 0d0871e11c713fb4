package v4l2m2m

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors; returned errors wrap them with the operation.
var (
	// ErrDeviceGone: the device vanished (ENODEV, EIO, poll error); Run
	// returns it so a supervisor can reopen, possibly after a replug.
	ErrDeviceGone = errors.New("v4l2m2m: device gone")
	// ErrNotEncoder: the node is no stateful mem2mem encoder for the
	// requested coded format.
	ErrNotEncoder = errors.New("v4l2m2m: not a mem2mem encoder for this format")
	// ErrFormat: the driver would not take the requested raw or coded format.
	ErrFormat = errors.New("v4l2m2m: format not accepted")
	// ErrFrameSize: a Frame's data is too short for the negotiated format.
	ErrFrameSize = errors.New("v4l2m2m: frame data too short")
	// ErrStalled: frames were queued but the device produced nothing within
	// Config.StallTimeout.
	ErrStalled = errors.New("v4l2m2m: encoder stalled")
	// ErrDrainTimeout: the drain after V4L2_ENC_CMD_STOP did not end with
	// V4L2_BUF_FLAG_LAST within Config.DrainTimeout.
	ErrDrainTimeout = errors.New("v4l2m2m: drain timed out")
	// ErrRunning: Run was called while another Run is active.
	ErrRunning = errors.New("v4l2m2m: already running")
	// ErrNotRunning: the Run that Encode waited on ended before taking the
	// frame.
	ErrNotRunning = errors.New("v4l2m2m: encoder not running")
	// ErrConfig: Config failed validation.
	ErrConfig = errors.New("v4l2m2m: invalid config")
)

// gone reports whether errno means the device is no longer usable.
func gone(err error) bool {
	return errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EBADF)
}

// wrap adds the operation and maps device loss onto ErrDeviceGone.
func wrap(op string, err error) error {
	if gone(err) {
		return fmt.Errorf("v4l2m2m: %s: %w (%w)", op, ErrDeviceGone, err)
	}
	return fmt.Errorf("v4l2m2m: %s: %w", op, err)
}
