// Package peer is the appliance's WebRTC layer: it keeps one customer's
// PeerConnection alive with Perfect Negotiation (appliance impolite), endless
// ICE restart, a data-channel heartbeat and TURN fallback, and it keeps a
// standby PeerConnection with a pre-gathered offer so a customer change costs
// one signalling round trip.
//
// Everything that changes state runs in the single goroutine of Peer.Run;
// pion callbacks and the signalling layer's calls only enqueue events.
//
// # Wiring (docs/protocol.md)
//
//   - `signal` from a customer      -> Peer.HandleSignal(from, Signal); Signal
//     has the contract's JSON form (MarshalJSON/UnmarshalJSON, with
//     `"candidate": null` as EndOfCandidates).
//   - `room:user:joined` (customer) -> Peer.UserJoined(userId): the prepared
//     offer is sent at once through Config.Signaller.
//   - `call:ended`, `room:user:left` -> Peer.CallEnded(userId).
//   - socket reconnected            -> Peer.SocketReconnected().
//   - `session:verify` iceServers   -> Peer.SetICEServers (or Config.ICEServers).
//   - health, metrics, device:status read Peer.Stats and Config.OnStateChange.
//
// # What the customer page must do
//
// Run the W3C Perfect Negotiation example as the polite peer (see
// testdata/customer.html, which the Chromium test runs), echo heartbeat
// pings on the negotiated channel {negotiated: true, id: 1000, ordered:
// false, maxRetransmits: 0} (heartbeat.go), and create that channel only
// after applying the appliance's first offer, so the call starts without
// glare. The appliance always offers first. The example as the
// specification gives it (testdata/customer-w3c.html: no heartbeat, camera
// and mic added whenever it likes, glare) works too; its calls are then
// watched by ICE alone and have no heartbeat RTT.
//
// # Files
//
// peer.go (Run loop, public calls, health), conn.go (one PeerConnection, the
// standby, why a customer change needs a new one), mediaengine.go (codecs,
// RTP header extension ids, interceptors), negotiation.go (Perfect
// Negotiation, refused descriptions, moving a stuck call), restart.go (ICE timers, backoff, TURN fallback), consent.go
// (the selected pair's own check responses), heartbeat.go,
// stats.go, signal.go, signal_json.go and wire.go (the contract: the room
// protocol's codec and types, converted here only), state.go, config.go,
// errors.go; pion logs through tether/internal/pionlog.
package peer
