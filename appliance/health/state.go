package health

import (
	"fmt"
	"time"

	"tether/media"
)

// State is the one overall appliance state shown by LEDs, console and setup
// page. The values are listed in priority order, highest first, as Derive
// applies them; see docs/leds.md for what a field tech does in each.
type State int

const (
	// StateRestarting: a clean self-restart is under way (the process will
	// exit and the init system starts it again).
	StateRestarting State = iota
	// StateFault: a fatal fault was reported (a build without the
	// encoders the board needs, a fatal internal error); a person must look.
	StateFault
	// StateBooting: the daemon is still starting (store, board, media).
	StateBooting
	// StateNoCamera: the camera is missing, failed or being reopened:
	// customers get no picture (issue 11: never shown as ready).
	StateNoCamera
	// StateNoEncoder: no video encoder runs (failed, or none in this
	// build or on this board): customers get no picture.
	StateNoEncoder
	// StateNoMicrophone: the microphone is missing, failed or being
	// reopened, or audio is off: customers hear nothing.
	StateNoMicrophone
	// StateNoNetwork: no usable network interface / default route.
	StateNoNetwork
	// StateLoginNeeded: the hub said session_expired; log in on the setup page.
	StateLoginNeeded
	// StateHubUnreachable: the socket is not connected (connecting, backing
	// off), or it is connected but the device is not yet in its room.
	StateHubUnreachable
	// StateDegraded: in service but unhealthy: RTT over the threshold,
	// missed heartbeats, packet loss, or an ICE restart.
	StateDegraded
	// StateInCall: a customer is connected (or being connected).
	StateInCall
	// StateReadyWaiting: in the room, peer ready, waiting for a customer.
	StateReadyWaiting

	numStates
)

// States lists every overall state in priority order.
func States() []State {
	s := make([]State, 0, numStates)
	for i := State(0); i < numStates; i++ {
		s = append(s, i)
	}
	return s
}

var stateNames = [...]string{
	StateRestarting:     "restarting",
	StateFault:          "fault",
	StateBooting:        "booting",
	StateNoCamera:       "no-camera",
	StateNoEncoder:      "no-encoder",
	StateNoMicrophone:   "no-microphone",
	StateNoNetwork:      "no-network",
	StateLoginNeeded:    "login-needed",
	StateHubUnreachable: "hub-unreachable",
	StateDegraded:       "degraded",
	StateInCall:         "in-call",
	StateReadyWaiting:   "ready",
}

func (s State) String() string {
	if s >= 0 && s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// SocketState is the Socket.IO layer's connection state.
type SocketState int

const (
	SocketDisconnected SocketState = iota
	SocketConnecting
	SocketConnected
	// SocketBackoff: waiting before the next reconnect attempt.
	SocketBackoff
	// SocketSessionExpired: the hub refused the token; retrying stops until
	// a new login (protocol.md, Rules).
	SocketSessionExpired
)

func (s SocketState) String() string {
	switch s {
	case SocketDisconnected:
		return "disconnected"
	case SocketConnecting:
		return "connecting"
	case SocketConnected:
		return "connected"
	case SocketBackoff:
		return "backoff"
	case SocketSessionExpired:
		return "session-expired"
	}
	return fmt.Sprintf("SocketState(%d)", int(s))
}

// SocketStatus is what the socket manager reports.
type SocketStatus struct {
	State SocketState
	// Transport is "websocket" or "polling" ("" while not connected).
	Transport string
	// Attempt is the reconnect attempt number (0 when connected).
	Attempt int
	// LastError is the last dial/handshake error, kept after recovery for
	// the console.
	LastError string
	// RTT is the last keep-alive round trip (0 = not measured).
	RTT time.Duration
	// Since is set by the tracker: when State last changed.
	Since time.Time
}

// PeerState is the WebRTC layer's state.
type PeerState int

const (
	// PeerIdle: no peer connection yet (not in the room).
	PeerIdle PeerState = iota
	// PeerWaiting: in the room, peer connection kept, no customer.
	PeerWaiting
	// PeerNegotiating: a customer arrived, offer/answer in progress.
	PeerNegotiating
	// PeerConnected: media flowing to a customer.
	PeerConnected
	// PeerDegraded: connected but the heartbeat says it is unhealthy.
	PeerDegraded
	// PeerRestarting: ICE restart in progress (RFC 8445 §2.4).
	PeerRestarting
)

func (s PeerState) String() string {
	switch s {
	case PeerIdle:
		return "idle"
	case PeerWaiting:
		return "waiting"
	case PeerNegotiating:
		return "negotiating"
	case PeerConnected:
		return "connected"
	case PeerDegraded:
		return "degraded"
	case PeerRestarting:
		return "restarting"
	}
	return fmt.Sprintf("PeerState(%d)", int(s))
}

// Path is the selected ICE candidate pair's local candidate type
// (RFC 8445 §5.1.1): direct, NAT-mapped, or relayed via TURN.
type Path int

const (
	PathUnknown Path = iota
	PathHost
	PathSrflx
	PathPrflx
	PathRelay
)

func (p Path) String() string {
	switch p {
	case PathUnknown:
		return "unknown"
	case PathHost:
		return "host"
	case PathSrflx:
		return "srflx"
	case PathPrflx:
		return "prflx"
	case PathRelay:
		return "relay"
	}
	return fmt.Sprintf("Path(%d)", int(p))
}

// PeerStatus is what the peer session reports.
type PeerStatus struct {
	State PeerState
	Path  Path
	// RTT is the last heartbeat round trip (0 = not measured).
	RTT time.Duration
	// Loss is the fraction of packets lost, 0..1.
	Loss float64
	// MissedHeartbeats counts consecutive unanswered 5 s heartbeats.
	MissedHeartbeats int
	LastError        string
	// Since is set by the tracker: when State last changed.
	Since time.Time
}

// MediaStatus is what the media pipeline reports: its own states
// (media.SourceState, media.EncoderKind), not a translation of them.
type MediaStatus struct {
	Camera, Mic           media.SourceState
	CameraError, MicError string
	Encoder               media.EncoderKind
	EncoderError          string
}

// FromMedia keeps the states and errors of a pipeline status (its counters
// change every frame and are not health facts).
func FromMedia(s media.Status) MediaStatus {
	return MediaStatus{
		Camera: s.Camera, CameraError: s.CameraError, Mic: s.Mic, MicError: s.MicError,
		Encoder: s.Encoder, EncoderError: s.EncoderError,
	}
}

// EncoderDown reports a video encoder that failed or does not exist: none
// running and an error said why (before the first frame there is no
// encoder and no error, which is not a fault).
func (m MediaStatus) EncoderDown() bool {
	return m.Encoder == media.EncoderNone && m.EncoderError != ""
}

// EncoderState is the encoder's kind ("hardware", "software",
// "passthrough", "none" before the first frame), or "down".
func (m MediaStatus) EncoderState() string {
	if m.EncoderDown() {
		return "down"
	}
	return m.Encoder.String()
}

// LastError is the first media error: camera, microphone, encoder.
func (m MediaStatus) LastError() string {
	for _, e := range []string{m.CameraError, m.MicError, m.EncoderError} {
		if e != "" {
			return e
		}
	}
	return ""
}

// NetworkState says whether the appliance has a usable network.
type NetworkState int

const (
	// NetworkUnknown: never reported; treated as up so the appliance never
	// claims "no network" without evidence.
	NetworkUnknown NetworkState = iota
	NetworkUp
	NetworkDown
)

func (s NetworkState) String() string {
	switch s {
	case NetworkUnknown:
		return "unknown"
	case NetworkUp:
		return "up"
	case NetworkDown:
		return "down"
	}
	return fmt.Sprintf("NetworkState(%d)", int(s))
}

// NetworkStatus is what the network watcher reports.
type NetworkStatus struct {
	State NetworkState
	// Detail is a short human description ("eth0 192.0.2.7/24", "no default route").
	Detail string
}
