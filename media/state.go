package media

import "fmt"

// SourceState is the health of a capture source.
type SourceState int32

// Source states.
const (
	SourceStarting  SourceState = iota // Run has not opened it yet
	SourceOK                           // capturing
	SourceReopening                    // lost (unplugged, I/O error); reopening with backoff
	SourceFailed                       // present but unusable (format, encoder); retrying slowly
	SourceTest                         // the test pattern or tone stands in
	SourceOff                          // no source and no test source (audio without Opus)
	// SourceMissing: the device has not been there since start-up; it is
	// looked for every Config.DeviceProbe. Nothing stands in for it: the
	// test pattern and tone are only for Config.TestVideo/TestAudio
	// (-demo, camera=test), never a disguise for a missing device
	// (issue 11).
	SourceMissing
)

func (s SourceState) String() string {
	switch s {
	case SourceStarting:
		return "starting"
	case SourceOK:
		return "ok"
	case SourceReopening:
		return "reopening"
	case SourceFailed:
		return "failed"
	case SourceTest:
		return "test source"
	case SourceOff:
		return "off"
	case SourceMissing:
		return "missing"
	}
	return fmt.Sprintf("SourceState(%d)", int32(s))
}

// Working reports whether the source delivers (a real device, or the test
// source that was asked for); Starting counts as working.
func (s SourceState) Working() bool {
	return s == SourceStarting || s == SourceOK || s == SourceTest
}

// EncoderKind says which video encoder is in use.
type EncoderKind int32

// Encoder kinds.
const (
	EncoderNone        EncoderKind = iota // none yet, or none available
	EncoderHardware                       // V4L2 mem2mem (bcm2835-codec)
	EncoderSoftware                       // openh264
	EncoderPassthrough                    // the camera emits H.264 itself
)

func (k EncoderKind) String() string {
	switch k {
	case EncoderNone:
		return "none"
	case EncoderHardware:
		return "hardware"
	case EncoderSoftware:
		return "software"
	case EncoderPassthrough:
		return "passthrough"
	}
	return fmt.Sprintf("EncoderKind(%d)", int32(k))
}

// EncoderChoice is the configured encoder preference.
type EncoderChoice int

// Encoder preferences.
const (
	EncoderAuto         EncoderChoice = iota // hardware if probing finds one, else software
	EncoderHardwareOnly                      // fail (video state failed) without hardware
	EncoderSoftwareOnly                      // never probe for hardware
)

func (c EncoderChoice) String() string {
	switch c {
	case EncoderAuto:
		return "auto"
	case EncoderHardwareOnly:
		return "hardware"
	case EncoderSoftwareOnly:
		return "software"
	}
	return fmt.Sprintf("EncoderChoice(%d)", int(c))
}
