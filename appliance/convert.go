package appliance

import (
	"github.com/pion/webrtc/v4"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/signaling"
	"tether/signaling/socketio"
)

// toPeerSignal converts a room-protocol signal for the WebRTC layer.
func toPeerSignal(s signaling.Signal) peer.Signal {
	var out peer.Signal
	if d := s.Description; d != nil {
		out.Description = &webrtc.SessionDescription{Type: webrtc.NewSDPType(d.Type), SDP: d.SDP}
	}
	if c := s.Candidate; c != nil {
		out.Candidate = &webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	}
	out.EndOfCandidates = s.EndOfCandidates
	return out
}

// fromPeerSignal converts the WebRTC layer's signal for the room protocol.
func fromPeerSignal(to string, s peer.Signal) signaling.Signal {
	out := signaling.Signal{To: to, EndOfCandidates: s.EndOfCandidates}
	if d := s.Description; d != nil {
		out.Description = &signaling.SessionDescription{Type: d.Type.String(), SDP: d.SDP}
	}
	if c := s.Candidate; c != nil {
		out.Candidate = &signaling.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	}
	return out
}

func toICEServers(in []signaling.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		e := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			e.Credential = s.Credential
		}
		out = append(out, e)
	}
	return out
}

func socketState(s socketio.State) health.SocketState {
	switch s {
	case socketio.Connecting:
		return health.SocketConnecting
	case socketio.Connected:
		return health.SocketConnected
	case socketio.Backoff:
		return health.SocketBackoff
	case socketio.SessionExpired:
		return health.SocketSessionExpired
	}
	return health.SocketDisconnected
}

func peerState(s peer.State) health.PeerState {
	switch s {
	case peer.Waiting:
		return health.PeerWaiting
	case peer.Negotiating:
		return health.PeerNegotiating
	case peer.Connected:
		return health.PeerConnected
	case peer.Degraded:
		return health.PeerDegraded
	case peer.Restarting:
		return health.PeerRestarting
	}
	return health.PeerIdle
}

func peerPath(p peer.Path) health.Path {
	switch p {
	case peer.PathHost:
		return health.PathHost
	case peer.PathSrflx:
		return health.PathSrflx
	case peer.PathPrflx:
		return health.PathPrflx
	case peer.PathRelay:
		return health.PathRelay
	}
	return health.PathUnknown
}
