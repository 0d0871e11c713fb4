package mic

import (
	"errors"
	"fmt"

	"tether/media/alsa"
)

func openPCM(path string) (device, error) {
	p, err := alsa.Open(path)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Find returns the first ALSA capture node (/dev/snd/pcmC*D*c); with a
// hint, the first whose card name in /proc/asound/cards contains it
// (case-insensitive).
func Find(hint string) (string, error) {
	p, err := alsa.Find(alsa.Capture, hint)
	if errors.Is(err, alsa.ErrNoDevice) {
		return "", fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	return p, err
}
