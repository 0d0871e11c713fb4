package peer

import (
	"github.com/pion/webrtc/v4"

	"tether/signaling"
)

// The room protocol's `signal` message (signaling.Signal, with its one JSON
// codec) and this layer's Signal, which holds pion's types, meet here and
// nowhere else (issue 13: the appliance used to translate between them).

// FromWire is the room protocol's signal as this layer's.
func FromWire(s signaling.Signal) Signal {
	var out Signal
	if d := s.Description; d != nil {
		out.Description = &webrtc.SessionDescription{Type: webrtc.NewSDPType(d.Type), SDP: d.SDP}
	}
	if c := s.Candidate; c != nil {
		out.Candidate = &webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	}
	out.EndOfCandidates = s.EndOfCandidates
	return out
}

// Wire is s as the room protocol's signal to the member to ("" leaves the
// field out: the payload alone).
func (s Signal) Wire(to string) signaling.Signal {
	out := signaling.Signal{To: to, EndOfCandidates: s.EndOfCandidates}
	if d := s.Description; d != nil {
		out.Description = &signaling.SessionDescription{Type: d.Type.String(), SDP: d.SDP}
	}
	if c := s.Candidate; c != nil {
		out.Candidate = &signaling.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	}
	return out
}

// ICEServersFromWire is session:verify's iceServers for SetICEServers.
func ICEServersFromWire(in []signaling.ICEServer) []webrtc.ICEServer {
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
