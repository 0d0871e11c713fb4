package speaker

import (
	"errors"

	"tether/media/alsa"
)

// Sentinel errors; returned errors wrap them with the operation.
var (
	// ErrNoDevice: no ALSA playback device (node missing at open).
	ErrNoDevice = errors.New("speaker: no such playback device")
	// ErrGone: the device vanished (USB unplug) or was suspended.
	ErrGone = errors.New("speaker: device gone")
	// ErrFormat: the device does not take 48 kHz S16_LE mono or stereo.
	ErrFormat = errors.New("speaker: 48 kHz S16_LE playback not supported")
	// ErrStalled: the device took no samples within Config.WriteTimeout.
	ErrStalled = errors.New("speaker: the device takes no samples")
	// ErrClosed: the speaker was closed.
	ErrClosed = errors.New("speaker: closed")
	// ErrUnsupported: built for a system without ALSA.
	ErrUnsupported = alsa.ErrUnsupported
)

var errs = alsa.Errs{Name: "speaker", NoDevice: ErrNoDevice, Gone: ErrGone, Format: ErrFormat, Stalled: ErrStalled}
