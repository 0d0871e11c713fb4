package media

// Device names, as health, the LEDs, the console, the setup page, metrics
// and device:status spell them. Issue 15's speaker and display join the
// list as one entry each.
const (
	DeviceCamera = "camera"
	DeviceMic    = "mic"
)

// Device is one media device as the pipeline sees it: its name, its state
// and its last error ("" when fine). The state is the media layer's own
// (SourceState); nobody translates it.
type Device struct {
	Name  string
	State SourceState
	Error string
}

// Devices lists the pipeline's devices in the order a customer would miss
// them: picture first, then sound.
func (s Status) Devices() []Device {
	return []Device{
		{Name: DeviceCamera, State: s.Camera, Error: s.CameraError},
		{Name: DeviceMic, State: s.Mic, Error: s.MicError},
	}
}
