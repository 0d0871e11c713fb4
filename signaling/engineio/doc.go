// Package engineio implements the client side of the Engine.IO protocol
// version 4 (https://socket.io/docs/v4/engine-io-protocol/): the packet and
// payload codec, the WebSocket and HTTP long-polling transports, the
// polling → WebSocket upgrade and the ping watchdog.
//
// A Conn is one Engine.IO session; it never reconnects by itself. The
// reconnecting manager lives in package socketio, which opens a new Conn for
// every attempt.
package engineio
