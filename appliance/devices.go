package appliance

import (
	"strings"

	"tether/media"
	"tether/media/camera"
)

// deviceOpeners returns the camera and microphone openers for the
// configured devices. A missing device is reported as missing (health shows
// no-camera or no-microphone) and looked for until it appears; a device
// that goes away is reopened with backoff by the pipeline. The test sources
// are only for camera=test and mic=test (the sim board, -demo).
func deviceOpeners(cfg Config) (func() (media.VideoSource, error), func() (media.AudioSource, error)) {
	cam := media.CameraOpener(camera.Config{Path: cfg.Camera, Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS})
	micPath, hint := "", cfg.Profile.Audio.CardHint
	if strings.HasPrefix(cfg.Microphone, "/dev/") {
		micPath = cfg.Microphone
	} else if cfg.Microphone != "" {
		hint = cfg.Microphone
	}
	return cam, media.MicOpener(micPath, hint)
}
