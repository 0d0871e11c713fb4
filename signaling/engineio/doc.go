// Package engineio implements both sides of the Engine.IO protocol version
// 4 (https://socket.io/docs/v4/engine-io-protocol/): the packet and payload
// codec, the WebSocket and HTTP long-polling transports, the polling →
// WebSocket upgrade and the heartbeat.
//
// On the client a Conn is one session; it never reconnects by itself (the
// reconnecting manager is in package socketio, which opens a new Conn for
// every attempt). On the server a Server is an http.Handler holding many
// Sessions.
package engineio
