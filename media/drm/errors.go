package drm

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors; returned errors wrap them with the operation.
var (
	// ErrUnsupported: this build has no DRM support (not Linux).
	ErrUnsupported = errors.New("drm: compiled without DRM/KMS support (linux only)")
	// ErrNoDisplay: no DRM card with a connected connector and a mode.
	ErrNoDisplay = errors.New("drm: no connected display")
	// ErrDeviceGone: the card vanished or stopped answering (ENODEV, EIO).
	ErrDeviceGone = errors.New("drm: device gone")
	// ErrNoWriteback: Capture on a card without a usable writeback
	// connector.
	ErrNoWriteback = errors.New("drm: no writeback connector")
	// ErrTimeout: a page flip or writeback did not complete in time.
	ErrTimeout = errors.New("drm: timed out")
)

func gone(err error) bool {
	return errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EBADF)
}

func wrap(op string, err error) error {
	if gone(err) {
		return fmt.Errorf("drm: %s: %w (%w)", op, ErrDeviceGone, err)
	}
	return fmt.Errorf("drm: %s: %w", op, err)
}
