package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Event names of room protocol v1.
const (
	EvSessionVerify  = "session:verify"
	EvRoomJoin       = "room:join"
	EvUserJoined     = "room:user:joined"
	EvUserLeft       = "room:user:left"
	EvCallEnded      = "call:ended"
	EvSignal         = "signal"
	EvKeepalive      = "keepalive"
	EvDeviceStatus   = "device:status"
	EvSessionExpired = "session:expired"
	EvQueuePosition  = "queue:position"
)

// Error strings of the contract.
const (
	ErrCodeSessionExpired = "session_expired"
	ErrCodeUnauthorized   = "unauthorized"
	ErrCodeInviteInvalid  = "invite_invalid"
	// ErrCodeBusy: the server could not look the session up now; try
	// again after the reply's retryAfterMs (docs/protocol.md §10).
	ErrCodeBusy = "busy"
)

// ICEServer is one entry of session:verify's iceServers (the WebRTC
// RTCIceServer dictionary).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// UnmarshalJSON accepts urls as a string or a list, as RTCIceServer does.
func (s *ICEServer) UnmarshalJSON(b []byte) error {
	var raw struct {
		URLs       json.RawMessage `json:"urls"`
		Username   string          `json:"username"`
		Credential string          `json:"credential"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	s.Username, s.Credential, s.URLs = raw.Username, raw.Credential, nil
	if len(raw.URLs) == 0 || string(raw.URLs) == "null" {
		return fmt.Errorf("iceServers entry without urls")
	}
	if raw.URLs[0] == '"' {
		var u string
		if err := json.Unmarshal(raw.URLs, &u); err != nil {
			return err
		}
		s.URLs = []string{u}
		return nil
	}
	return json.Unmarshal(raw.URLs, &s.URLs)
}

// VerifyReply is the answer to session:verify.
type VerifyReply struct {
	OK         bool        `json:"ok"`
	Error      string      `json:"error,omitempty"`
	DeviceID   string      `json:"deviceId,omitempty"`
	RoomID     string      `json:"roomId,omitempty"`
	ExpiresAt  time.Time   `json:"expiresAt,omitzero"`
	ICEServers []ICEServer `json:"iceServers,omitempty"`
	// RetryAfterMs comes with error "busy".
	RetryAfterMs int64 `json:"retryAfterMs,omitempty"`
}

// Member is one entry of room:join's members.
type Member struct {
	UserID string `json:"userId"`
	Role   string `json:"role"`
	Name   string `json:"name,omitempty"`
}

// JoinReply is the answer to room:join.
type JoinReply struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Members []Member `json:"members,omitempty"`
}

// RoomEvent is the payload of room:user:joined, room:user:left and
// call:ended.
type RoomEvent struct {
	RoomID string `json:"roomId"`
	UserID string `json:"userId"`
	Role   string `json:"role,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SessionDescription is an SDP offer or answer.
type SessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// Candidate is an ICE candidate (RTCIceCandidateInit).
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Signal is one Perfect Negotiation message: a description, a candidate,
// or the end of candidates (the contract's `"candidate": null`).
type Signal struct {
	To              string // set when sending
	From            string // set by the server when forwarding
	Description     *SessionDescription
	Candidate       *Candidate
	EndOfCandidates bool
}

type signalJSON struct {
	To          string              `json:"to,omitempty"`
	From        string              `json:"from,omitempty"`
	Description *SessionDescription `json:"description,omitempty"`
	Candidate   json.RawMessage     `json:"candidate,omitempty"`
}

// MarshalJSON encodes the contract's shape.
func (s Signal) MarshalJSON() ([]byte, error) {
	j := signalJSON{To: s.To, From: s.From, Description: s.Description}
	switch {
	case s.Candidate != nil:
		b, err := json.Marshal(s.Candidate)
		if err != nil {
			return nil, err
		}
		j.Candidate = b
	case s.EndOfCandidates:
		j.Candidate = json.RawMessage("null")
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes and validates a signal: exactly one of a
// description or a candidate (possibly null).
func (s *Signal) UnmarshalJSON(b []byte) error {
	var j signalJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	*s = Signal{To: j.To, From: j.From, Description: j.Description}
	switch {
	case j.Candidate == nil:
	case bytes.Equal(bytes.TrimSpace(j.Candidate), []byte("null")):
		s.EndOfCandidates = true
	default:
		var c Candidate
		if err := json.Unmarshal(j.Candidate, &c); err != nil {
			return fmt.Errorf("signal: candidate: %w", err)
		}
		s.Candidate = &c
	}
	return s.Validate()
}

// Validate checks the contract's rule of a single description or
// candidate per message.
func (s *Signal) Validate() error {
	n := 0
	if s.Description != nil {
		n++
		if s.Description.Type != "offer" && s.Description.Type != "answer" && s.Description.Type != "pranswer" && s.Description.Type != "rollback" {
			return fmt.Errorf("signal: description type %q: %w", s.Description.Type, ErrBadMessage)
		}
	}
	if s.Candidate != nil || s.EndOfCandidates {
		n++
	}
	if n != 1 {
		return fmt.Errorf("signal: need exactly one description or candidate, got %d: %w", n, ErrBadMessage)
	}
	return nil
}

// KeepaliveReply is the answer to keepalive.
type KeepaliveReply struct {
	OK         bool  `json:"ok"`
	T          int64 `json:"t"`
	ServerTime int64 `json:"serverTime"`
}
