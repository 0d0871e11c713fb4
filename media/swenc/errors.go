package swenc

import "errors"

// Sentinel errors; returned errors wrap them with context.
var (
	// ErrNoSoftwareEncoder: the binary was compiled with cgo off (no
	// software codec: no encoder, and no Opus decoder for the speaker).
	ErrNoSoftwareEncoder = errors.New("swenc: compiled without software encoder (cgo disabled)")
	// ErrConfig: Config failed validation.
	ErrConfig = errors.New("swenc: invalid config")
	// ErrClosed: the encoder was closed (its Run ended).
	ErrClosed = errors.New("swenc: encoder closed")
	// ErrFrameSize: a frame's data is shorter than Width*Height*3/2.
	ErrFrameSize = errors.New("swenc: frame data too short")
	// ErrEncode: the codec library reported a failure.
	ErrEncode = errors.New("swenc: encode failed")
	// ErrDecode: the codec library refused a packet (corrupt, or hostile).
	ErrDecode = errors.New("swenc: decode failed")
)
