package media

// Device names, as health, the LEDs, the console, the setup page, metrics
// and device:status spell them. Issue 15's speaker and display join the
// list as one entry each.
const (
	DeviceCamera  = "camera"
	DeviceMic     = "mic"
	DeviceSpeaker = "speaker"
	DeviceDisplay = "display"
)

// Device is one media device as the pipeline sees it: its name, its state
// and its last error ("" when fine). The state is the media layer's own
// (SourceState); nobody translates it.
type Device struct {
	Name  string
	State SourceState
	Error string
}

// Down reports a device that does not deliver although it should: not
// Working, except a speaker or display that is off, which is what "speaker
// none" and "display none" ask for (a board without one; issue 15), and
// what the appliance reports for "display auto" with no screen connected
// (a headless counter is normal), so no fault. A microphone that is off is
// one: the customer hears nothing.
func (d Device) Down() bool {
	if (d.Name == DeviceSpeaker || d.Name == DeviceDisplay) && d.State == SourceOff {
		return false
	}
	return !d.State.Working()
}

// Devices lists the pipeline's devices in the order a customer would miss
// them: picture first, then sound; then the counter's speaker when a
// Player's status was merged in (WithPlayer), and its screen (WithDisplay).
func (s Status) Devices() []Device {
	d := []Device{
		{Name: DeviceCamera, State: s.Camera, Error: s.CameraError},
		{Name: DeviceMic, State: s.Mic, Error: s.MicError},
	}
	if s.hasSpeaker {
		d = append(d, Device{Name: DeviceSpeaker, State: s.Speaker, Error: s.SpeakerError})
	}
	if s.hasDisplay {
		d = append(d, Device{Name: DeviceDisplay, State: s.Display, Error: s.DisplayError})
	}
	return d
}

// WithPlayer returns s with the speaker's state from the Player that runs
// beside the pipeline (the pipeline captures; it does not play), so the
// speaker is listed by Devices like the camera and the microphone.
func (s Status) WithPlayer(p PlayerStatus) Status {
	s.Speaker, s.SpeakerError, s.hasSpeaker = p.Speaker, p.SpeakerError, true
	return s
}

// WithDisplay returns s with the counter's screen (media/display, which
// runs beside the pipeline and cannot be imported here) listed by Devices.
// state is SourceOff for no screen wanted or none found where one is only
// optional; the caller decides which absence is a fault.
func (s Status) WithDisplay(state SourceState, err string) Status {
	s.Display, s.DisplayError, s.hasDisplay = state, err, true
	return s
}
