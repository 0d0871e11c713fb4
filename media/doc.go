// Package media is Tether's media pipeline: a camera (or the test pattern)
// feeds one video encoder (V4L2 mem2mem hardware H.264, openh264 in
// software, or an H.264 camera passed through) and a microphone (or the
// test tone) feeds one Opus encoder, each writing into a single pion track
// that every peer connection shares. The devices open once when Run starts
// and stay open across customers and reconnects; a camera that vanishes is
// reopened with backoff while Status reports it.
//
// Data flow, one goroutine per box, all owned by Pipeline.Run:
//
//	VideoSource.ReadFrame -> convert -> Encoder.Encode -> Sink -> video track
//	AudioSource.ReadPCM -> echo canceller (Config.Echo) -> Opus -> audio track
//	stats ticker -> Status (fps)
//
// The other direction (issue 15): Player plays the customer's audio track
// on the speaker, one goroutine owning the device:
//
//	RTPReader -> jitter buffer -> Opus decode (FEC, PLC) -> volume -> speaker
//	                                                      \-> echo reference
//
// The jitter buffer holds JitterPackets (2) before a customer starts and
// is kept there: when a burst leaves it deeper for a whole 500 ms window,
// half the excess is decoded and not played (playout.shrink), as NetEq's
// accelerate does, so the voice's delay does not grow with every stall.
//
// and Config.Echo cancels that reference's echo from the microphone before
// the Opus encoder.
//
// Capture drivers live in media/camera (V4L2) and media/mic (ALSA), the
// playback driver in media/speaker (ALSA, sharing media/alsa's ABI); the
// hardware encoder in media/v4l2m2m, the software codecs in media/swenc and
// the echo canceller in media/aec.
package media
