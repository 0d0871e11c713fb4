// Package socketio implements the Socket.IO protocol version 5
// (https://socket.io/docs/v4/socket-io-protocol/) over package engineio: the
// packet codec with binary attachments, and a Client that reconnects
// forever with socket.io-client's backoff, falls back from WebSocket to
// polling, recovers sessions and re-runs a connect hook after every reconnect.
//
// The codec is shared by the client and the hub's server side.
package socketio
