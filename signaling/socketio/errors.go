package socketio

import "errors"

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
