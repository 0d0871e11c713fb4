package health

import (
	"fmt"
	"slices"
	"time"

	"tether/appliance/peer"
	"tether/media"
	"tether/signaling/socketio"
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
	// StateNoSpeaker: a configured speaker is missing, failed or being
	// reopened: customers are served, but the counter cannot hear them
	// (issue 15). "speaker none" is no fault.
	StateNoSpeaker
	// StateNoDisplay: a display the counter expects (a card path in the
	// display setting) is missing, failed or being reopened: the customer
	// is served, but not seen (issue 15). "display auto" with no screen
	// connected and "display none" are no fault.
	StateNoDisplay
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
	StateNoSpeaker:      "no-speaker",
	StateNoDisplay:      "no-display",
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

// SocketStatus is what the socket manager reports. Its state is the
// Socket.IO layer's own (socketio.State), not a copy of it.
type SocketStatus struct {
	State socketio.State
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

// PeerStatus is what the peer session reports: the WebRTC layer's own state
// and path (peer.State, peer.Path).
type PeerStatus struct {
	State peer.State
	// Path is the selected pair's local candidate type (RFC 8445 §5.1.1),
	// peer.PathNone before one is selected.
	Path peer.Path
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

// MediaStatus is what the media pipeline reports: its devices by name,
// each with the media layer's own state (media.Device), and its video
// encoder. A device not in the list counts as delivering (starting).
type MediaStatus struct {
	Devices      []media.Device
	Encoder      media.EncoderKind
	EncoderError string
}

// FromMedia keeps the devices, states and errors of a pipeline status (its
// counters change every frame and are not health facts).
func FromMedia(s media.Status) MediaStatus {
	return MediaStatus{Devices: s.Devices(), Encoder: s.Encoder, EncoderError: s.EncoderError}
}

// Device returns the named device; a device not listed is reported as
// starting (not yet known), which counts as delivering.
func (m MediaStatus) Device(name string) media.Device {
	for _, d := range m.Devices {
		if d.Name == name {
			return d
		}
	}
	return media.Device{Name: name, State: media.SourceStarting}
}

// Equal reports whether m and n hold the same facts.
func (m MediaStatus) Equal(n MediaStatus) bool {
	return m.Encoder == n.Encoder && m.EncoderError == n.EncoderError && slices.Equal(m.Devices, n.Devices)
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

// LastError is the first media error: the devices' in list order, then
// the encoder's.
func (m MediaStatus) LastError() string {
	for _, d := range m.Devices {
		if d.Error != "" {
			return d.Error
		}
	}
	return m.EncoderError
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
