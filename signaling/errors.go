package signaling

import "errors"

var (
	// ErrBadMessage reports a room-protocol payload that breaks the contract.
	ErrBadMessage = errors.New("signaling: bad message")
	// ErrRefused reports an ok:false answer; the wrapped text is its error.
	ErrRefused = errors.New("signaling: refused")
)
