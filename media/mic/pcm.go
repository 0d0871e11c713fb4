package mic

import "tether/media/alsa"

// Find returns the first ALSA capture node (/dev/snd/pcmC*D*c); with a
// hint, the first whose card name in /proc/asound/cards contains it
// (case-insensitive).
func Find(hint string) (string, error) { return errs.Find(alsa.Capture, hint) }
