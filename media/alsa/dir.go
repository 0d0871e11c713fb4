package alsa

import "strings"

// Dir is a stream direction, the last letter of a PCM node's name.
type Dir string

// Stream directions.
const (
	Capture  Dir = "c"
	Playback Dir = "p"
)

// Direction returns the direction a node's name says (capture unless it
// ends in "p").
func Direction(path string) Dir {
	if strings.HasSuffix(path, "p") {
		return Playback
	}
	return Capture
}
