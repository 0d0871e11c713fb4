package v4l2m2m

import "syscall"

// The errnos the loop tests for on every dequeue, as package variables of
// interface type so errors.Is does not box them each time.
var (
	errAgain error = syscall.EAGAIN
	errPipe  error = syscall.EPIPE
)
