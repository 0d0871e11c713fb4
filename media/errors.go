package media

import "errors"

// Sentinel errors; returned errors wrap them with context.
var (
	// ErrConfig: Config failed validation.
	ErrConfig = errors.New("media: invalid config")
	// ErrNoDevice: a capture device does not exist. Returned by an opener
	// before the device was ever opened, it is SourceMissing; after, it is
	// SourceReopening.
	ErrNoDevice = errors.New("media: no such capture device")
	// ErrNoEncoder: neither a hardware nor a software H.264 encoder is
	// available in this build on this machine.
	ErrNoEncoder = errors.New("media: no H.264 encoder available")
	// ErrFormat: a frame's pixel format or size cannot be encoded.
	ErrFormat = errors.New("media: unsupported frame format")
	// ErrNoDecoder: no Opus decoder in this build (cgo off): the speaker
	// is off.
	ErrNoDecoder = errors.New("media: no Opus decoder")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("media: pipeline already running")
)
