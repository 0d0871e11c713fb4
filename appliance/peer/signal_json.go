package peer

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// signalWire is the `signal` payload of docs/protocol.md without the
// to/from field, which the room layer adds: {"description": {"type",
// "sdp"}} or {"candidate": {"candidate", "sdpMid", "sdpMLineIndex"}} or
// {"candidate": null} (end of candidates).
type signalWire struct {
	Description *webrtc.SessionDescription `json:"description,omitempty"`
	Candidate   json.RawMessage            `json:"candidate,omitempty"`
}

var jsonNull = []byte("null")

// MarshalJSON encodes s as the contract's payload.
func (s Signal) MarshalJSON() ([]byte, error) {
	w := signalWire{Description: s.Description}
	switch {
	case s.Candidate != nil:
		b, err := json.Marshal(s.Candidate)
		if err != nil {
			return nil, err
		}
		w.Candidate = b
	case s.EndOfCandidates:
		w.Candidate = jsonNull
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes the contract's payload; `"candidate": null` becomes
// EndOfCandidates.
func (s *Signal) UnmarshalJSON(b []byte) error {
	var w signalWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignal, err)
	}
	out := Signal{Description: w.Description}
	if w.Candidate != nil {
		if bytes.Equal(bytes.TrimSpace(w.Candidate), jsonNull) {
			out.EndOfCandidates = true
		} else {
			var c webrtc.ICECandidateInit
			if err := json.Unmarshal(w.Candidate, &c); err != nil {
				return fmt.Errorf("%w: candidate: %v", ErrBadSignal, err)
			}
			out.Candidate = &c
		}
	}
	n := 0
	if out.Description != nil {
		n++
		if out.Description.Type != webrtc.SDPTypeOffer && out.Description.Type != webrtc.SDPTypeAnswer &&
			out.Description.Type != webrtc.SDPTypePranswer && out.Description.Type != webrtc.SDPTypeRollback {
			return fmt.Errorf("%w: description type", ErrBadSignal)
		}
	}
	if out.Candidate != nil || out.EndOfCandidates {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%w: want exactly one of description or candidate", ErrBadSignal)
	}
	*s = out
	return nil
}
