package swdec

import "errors"

// Sentinel errors; returned errors wrap them with context.
var (
	// ErrNoSoftwareDecoder: the binary was compiled with cgo off.
	ErrNoSoftwareDecoder = errors.New("swdec: compiled without software decoder (cgo disabled)")
	// ErrNeedKeyframe: the decoder lacks parameter sets or a reference
	// picture (a lost packet, a stream joined mid-GOP); nothing sensible
	// comes out until the next IDR, so the caller asks the sender for one
	// (RTCP PLI, RFC 4585 §6.3.1).
	ErrNeedKeyframe = errors.New("swdec: decoder needs a keyframe")
	// ErrTooLarge: the stream's pictures exceed Config.MaxWidth/MaxHeight,
	// or an access unit exceeds MaxAccessUnit.
	ErrTooLarge = errors.New("swdec: picture or access unit too large")
	// ErrClosed: Decode after Close.
	ErrClosed = errors.New("swdec: decoder closed")
)
