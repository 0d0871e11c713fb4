package testsrc

import "errors"

// Sentinel errors; returned errors wrap them with context.
var (
	// ErrNoStamp: the picture has no readable stamp (no level reference,
	// too little contrast, or a CRC mismatch).
	ErrNoStamp = errors.New("testsrc: no timestamp stamp in picture")
	// ErrSize: the frame size cannot hold a pattern or a stamp.
	ErrSize = errors.New("testsrc: unsupported frame size")
)
