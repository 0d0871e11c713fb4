package board

import "errors"

var (
	// ErrUnknownBoard is returned by Lookup for a name that is not a profile.
	ErrUnknownBoard = errors.New("unknown board")
	// ErrModelRead is returned by Detect when the model file exists but cannot be read.
	ErrModelRead = errors.New("cannot read board model")
)
