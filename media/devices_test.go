package media

import (
	"errors"
	"testing"

	"tether/media/camera"
)

func TestOpenersMapMissingDevices(t *testing.T) {
	if _, err := CameraOpener(camera.Config{Path: "/nonexistent/video99"})(); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("camera: err = %v, want ErrNoDevice", err)
	}
	if _, err := MicOpener("/nonexistent/pcmC9D0c", "")(); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("mic: err = %v, want ErrNoDevice", err)
	}
	if _, err := MicOpener("", "no card has this name")(); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("mic by hint: err = %v, want ErrNoDevice", err)
	}
}

// TestDeviceListWithSpeaker (issue 15): the pipeline alone lists camera
// and mic; with a player's status merged in, the speaker follows; a
// speaker that is off ("speaker none") is not down, a mic that is off is.
func TestDeviceListWithSpeaker(t *testing.T) {
	s := Status{Camera: SourceOK, Mic: SourceOff}
	if d := s.Devices(); len(d) != 2 || d[0].Name != DeviceCamera || d[1].Name != DeviceMic || !d[1].Down() || d[0].Down() {
		t.Fatalf("pipeline alone: %+v", d)
	}
	d := s.WithPlayer(PlayerStatus{Speaker: SourceMissing, SpeakerError: "no card"}).Devices()
	if len(d) != 3 || d[2] != (Device{Name: DeviceSpeaker, State: SourceMissing, Error: "no card"}) || !d[2].Down() {
		t.Fatalf("with a missing speaker: %+v", d)
	}
	if d := s.WithPlayer(PlayerStatus{Speaker: SourceOff}).Devices(); len(d) != 3 || d[2].Down() {
		t.Fatalf("speaker none: %+v", d)
	}
}

// TestDeviceListWithDisplay (issue 15 §5): the display follows the
// speaker; off (display none, or auto with no screen) is no fault, missing
// is.
func TestDeviceListWithDisplay(t *testing.T) {
	s := Status{Camera: SourceOK, Mic: SourceOK}.WithPlayer(PlayerStatus{Speaker: SourceOK})
	d := s.WithDisplay(SourceMissing, "no card").Devices()
	if len(d) != 4 || d[3] != (Device{Name: DeviceDisplay, State: SourceMissing, Error: "no card"}) || !d[3].Down() {
		t.Fatalf("with a missing display: %+v", d)
	}
	if d := s.WithDisplay(SourceOff, "").Devices(); len(d) != 4 || d[3].Down() {
		t.Fatalf("display off: %+v", d)
	}
}
