package peer

// State is the WebRTC layer's state as the health tracker sees it.
type State int

// The states of the layer. Transitions are made only by the Run goroutine.
const (
	// Idle: Run has not started, or has ended.
	Idle State = iota
	// Waiting: no customer. The standby PeerConnection is prepared (or
	// being prepared; Stats.StandbyReady says whether its offer is complete).
	Waiting
	// Negotiating: a customer joined and the offer/answer exchange or the
	// first ICE/DTLS handshake is under way.
	Negotiating
	// Connected: media path up and heartbeats answered.
	Connected
	// Degraded: the path is up on paper but ICE reports disconnected or
	// heartbeats are being missed; a restart follows unless it recovers.
	Degraded
	// Restarting: an ICE restart is in progress (endless, with backoff).
	Restarting
	numStates
)

var stateNames = [...]string{"idle", "waiting", "negotiating", "connected", "degraded", "restarting"}

// String returns the lower-case name used in logs, metrics and device:status.
func (s State) String() string {
	if s < 0 || s >= numStates {
		return "unknown"
	}
	return stateNames[s]
}
