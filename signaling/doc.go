// Package signaling speaks the room protocol (../shared/docs/protocol.md,
// "Room protocol v1") for the appliance over a persistent Socket.IO client:
// session verify and room:join after every connect, keep-alive with RTT,
// device:status, and the call events the WebRTC layer acts on.
//
// Transport details live in the sub-packages engineio and socketio; the hub's
// server side is in hub.
package signaling
