package engineio

import "errors"

// Sentinel errors. Callers match them with errors.Is; they are always wrapped
// with the operation that failed.
var (
	// ErrMalformed reports a packet or payload that does not follow the
	// Engine.IO v4 encoding.
	ErrMalformed = errors.New("engineio: malformed packet")
	// ErrTooLarge reports a packet or payload above the negotiated maxPayload.
	ErrTooLarge = errors.New("engineio: payload too large")
	// ErrPingTimeout reports that the server sent no ping within
	// pingInterval + pingTimeout.
	ErrPingTimeout = errors.New("engineio: ping timeout")
	// ErrClosed reports use of a closed connection.
	ErrClosed = errors.New("engineio: connection closed")
	// ErrServerClose reports a close packet sent by the server.
	ErrServerClose = errors.New("engineio: closed by server")
	// ErrHandshake reports a failed or invalid handshake (bad open packet,
	// unexpected HTTP status, unknown session).
	ErrHandshake = errors.New("engineio: handshake failed")
	// ErrUpgrade reports a failed polling → websocket upgrade; the session
	// stays on polling.
	ErrUpgrade = errors.New("engineio: upgrade failed")
)
