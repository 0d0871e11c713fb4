package siotest

import "errors"

// Sentinel errors; callers wrap them with the operation.
var (
	// ErrNotReady means a node process exited or timed out before its ready line.
	ErrNotReady = errors.New("siotest: node process not ready")
	// ErrExited means the node process ended while a caller waited on it.
	ErrExited = errors.New("siotest: node process exited")
	// ErrCtl means the control server answered a command with an error.
	ErrCtl = errors.New("siotest: control command failed")
	// ErrAck means an emit's acknowledgement reported an error (timeout).
	ErrAck = errors.New("siotest: ack failed")
)
