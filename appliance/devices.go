package appliance

import "tether/media"

// deviceOpeners returns the camera and microphone openers for the
// configured devices. Until the capture drivers are wired, nil openers make
// the pipeline use its test sources and report them as such.
func deviceOpeners(cfg Config) (func() (media.VideoSource, error), func() (media.AudioSource, error)) {
	return nil, nil
}
