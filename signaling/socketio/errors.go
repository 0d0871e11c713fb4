package socketio

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, always wrapped with the operation that failed.
var (
	// ErrMalformed reports a packet that does not follow Socket.IO v5.
	ErrMalformed = errors.New("socketio: malformed packet")
	// ErrAckTimeout reports an acknowledgement that did not arrive in time.
	ErrAckTimeout = errors.New("socketio: ack timeout")
	// ErrNotConnected reports an emit that could not be sent or buffered
	// because the socket is not connected (volatile emits, full buffer).
	ErrNotConnected = errors.New("socketio: not connected")
	// ErrConnectRefused reports a CONNECT_ERROR from the server; the wrapped
	// text is its message.
	ErrConnectRefused = errors.New("socketio: connect refused")
	// ErrSessionExpired reports the contract's `session_expired`: the
	// manager stops retrying until new credentials are given.
	ErrSessionExpired = errors.New("socketio: session expired")
	// ErrStale reports a buffered emit dropped because it waited longer
	// than the buffer's maximum age while disconnected.
	ErrStale = errors.New("socketio: dropped stale buffered emit")
	// ErrBufferFull reports an emit refused because the disconnected send
	// buffer is full.
	ErrBufferFull = errors.New("socketio: send buffer full")
	// ErrServerDisconnect reports a DISCONNECT from the server.
	ErrServerDisconnect = errors.New("socketio: disconnected by server")
)

// MaxRetryAfter bounds a server's retry hint: a hostile or broken server
// cannot park the client for longer than the seed's own worst backoff
// times a handful.
const MaxRetryAfter = 30 * time.Second

// RetryAfterError is a refusal that names when to try again: a
// CONNECT_ERROR whose data carries retryAfterMs, or a connect hook's error
// built from an ack that does (docs/protocol.md §10, the hub's `busy`).
// The next attempt waits at least Delay (at most MaxRetryAfter) instead of
// the backoff alone, so a fleet refused in a storm comes back when the
// server asked, not all at once on the 1 s step.
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.Delay)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfterMs wraps err with a server's retryAfterMs hint, bounded by
// MaxRetryAfter (a huge or hostile value neither overflows nor parks the
// client); err itself when ms is not positive.
func RetryAfterMs(ms int64, err error) error {
	if ms <= 0 {
		return err
	}
	return &RetryAfterError{Delay: time.Duration(min(ms, MaxRetryAfter.Milliseconds())) * time.Millisecond, Err: err}
}

// retryAfter is the delay a failure asks for, bounded; 0 if none.
func retryAfter(err error) time.Duration {
	var ra *RetryAfterError
	if !errors.As(err, &ra) || ra.Delay <= 0 {
		return 0
	}
	return min(ra.Delay, MaxRetryAfter)
}
