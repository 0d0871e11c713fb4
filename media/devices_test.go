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
