package mic

import (
	"errors"

	"tether/media/alsa"
)

// Sentinel errors; returned errors wrap them with the operation.
var (
	// ErrNoDevice: no ALSA capture device (node missing at open).
	ErrNoDevice = errors.New("mic: no such capture device")
	// ErrGone: the device vanished (USB unplug) or was suspended.
	ErrGone = errors.New("mic: device gone")
	// ErrFormat: the device does not take 48 kHz S16_LE mono or stereo.
	ErrFormat = errors.New("mic: 48 kHz S16_LE capture not supported")
	// ErrStalled: no samples within Config.ReadTimeout.
	ErrStalled = errors.New("mic: no samples from the device")
	// ErrClosed: the microphone was closed.
	ErrClosed = errors.New("mic: closed")
	// ErrUnsupported: built for a system without ALSA.
	ErrUnsupported = alsa.ErrUnsupported
)

var errs = alsa.Errs{Name: "mic", NoDevice: ErrNoDevice, Gone: ErrGone, Format: ErrFormat, Stalled: ErrStalled}
