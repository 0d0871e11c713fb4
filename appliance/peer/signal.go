package peer

import (
	"context"

	"github.com/pion/webrtc/v4"
)

// Signal is one `signal` message of the room protocol (docs/protocol.md):
// exactly one of Description, Candidate or EndOfCandidates is set.
type Signal struct {
	// Description is an offer or an answer.
	Description *webrtc.SessionDescription
	// Candidate is one trickled ICE candidate.
	Candidate *webrtc.ICECandidateInit
	// EndOfCandidates stands for the contract's `"candidate": null`, the
	// end-of-candidates indication of RFC 8838 §4 (a nil pointer alone would
	// be indistinguishable from "no candidate field").
	EndOfCandidates bool
}

// Signaller carries signals to the customer; the Socket.IO room layer
// implements it. Send must not block for long: it is called from the Run
// goroutine.
type Signaller interface {
	Send(ctx context.Context, to string, msg Signal) error
}

// SignallerFunc adapts a function to Signaller.
type SignallerFunc func(ctx context.Context, to string, msg Signal) error

// Send calls f.
func (f SignallerFunc) Send(ctx context.Context, to string, msg Signal) error { return f(ctx, to, msg) }
