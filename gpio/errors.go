package gpio

import "errors"

var (
	// ErrUnsupported is returned by OpenChip on systems without the GPIO
	// character device (anything but Linux).
	ErrUnsupported = errors.New("compiled without GPIO character device support")
	// ErrNoChip is returned by OpenChip when no chip has the name or label.
	ErrNoChip = errors.New("no such gpiochip")
	// ErrNotFitted is returned when a line is requested for a pin that is
	// not fitted on the board.
	ErrNotFitted = errors.New("pin not fitted")
	// ErrClosed is returned by a line or chip used after Close.
	ErrClosed = errors.New("closed")
)
