package media

import "time"

// Status is the pipeline's health, for the health tracker, console and
// setup page.
type Status struct {
	Camera      SourceState
	CameraError string // last open or capture error, "" when fine
	Mic         SourceState
	MicError    string
	// Speaker and SpeakerError are a Player's (PlayerStatus), set by
	// WithPlayer; the pipeline itself leaves them unset and unlisted.
	Speaker      SourceState
	SpeakerError string
	hasSpeaker   bool
	// Display and DisplayError are the screen's (media/display), set by
	// WithDisplay, like the speaker's.
	Display      SourceState
	DisplayError string
	hasDisplay   bool

	Encoder       EncoderKind
	EncoderDevice string // the mem2mem node for hardware
	EncoderError  string // last encoder failure

	// Width and Height of the frames being encoded.
	Width, Height int
	// FPS is the video access units written per second over the last
	// second of the clock.
	FPS float64
	// Frames and Keyframes written to the video track; Dropped frames the
	// encoder refused or that arrived while it restarted.
	Frames, Keyframes, Dropped uint64
	// AudioPackets written to the audio track.
	AudioPackets uint64
	// Bitrate is the current video target.
	Bitrate int
	// KeyframeRequests counts RequestKeyframe calls; KeyframeLatency is
	// the time from the oldest pending request to the keyframe that
	// answered it, for the latest answered request.
	KeyframeRequests uint64
	KeyframeLatency  time.Duration
}
