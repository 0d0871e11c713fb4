// Package peer is the appliance's WebRTC layer: it keeps one customer's
// PeerConnection alive with Perfect Negotiation (appliance impolite), endless
// ICE restart, a data-channel heartbeat and TURN fallback, and it keeps a
// standby PeerConnection with a pre-gathered offer so a customer change costs
// one signalling round trip.
//
// Everything that changes state runs in the single goroutine of Peer.Run;
// pion callbacks and the signalling layer's calls only enqueue events.
package peer
