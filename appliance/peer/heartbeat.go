package peer

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// The heartbeat data channel.
//
// It is created on both sides with negotiated:true and the fixed stream id
// HeartbeatChannelID (RFC 8831 §6.5: "negotiated" channels are agreed out of
// band, so no DATA_CHANNEL_OPEN message is needed and both sides know the id
// before SCTP is up). The customer page must create it with
//
//	pc.createDataChannel("heartbeat", {negotiated: true, id: 1000, ordered: false, maxRetransmits: 0})
//
// Unordered with no retransmissions (RFC 8831 §6.1, partial reliability of
// RFC 3758) so a beat lost on the path stays lost and is counted as loss
// instead of arriving late and hiding the outage. Id 1000 is clear of the
// low ids that in-band channels take from either DTLS role (RFC 8832 §6:
// even for the DTLS client, odd for the server) and below Chromium's limit
// of 1024 SCTP streams.
const (
	HeartbeatChannelID    uint16 = 1000
	HeartbeatChannelLabel        = "heartbeat"
)

// Beat is one heartbeat message: {"type":"ping"|"pong","seq":n,"t":ms},
// sent as a text message (RFC 8831 §6.6, PPID "WebRTC String"), so a
// browser's onmessage gets a string it can JSON.parse.
// The sender stamps T with its own clock in Unix milliseconds; the peer
// echoes Seq and T unchanged in a pong, so RTT needs no shared clock.
type Beat struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
	T    int64  `json:"t"`
}

// Beat types.
const (
	BeatPing = "ping"
	BeatPong = "pong"
)

// maxBeatSize bounds what DecodeBeat accepts; a beat is ~40 bytes.
const maxBeatSize = 256

// DecodeBeat parses and validates one heartbeat message.
func DecodeBeat(b []byte) (Beat, error) {
	var beat Beat
	if len(b) > maxBeatSize {
		return beat, fmt.Errorf("%w: %d bytes", ErrBadBeat, len(b))
	}
	if err := json.Unmarshal(b, &beat); err != nil {
		return Beat{}, fmt.Errorf("%w: %v", ErrBadBeat, err)
	}
	if beat.Type != BeatPing && beat.Type != BeatPong {
		return Beat{}, fmt.Errorf("%w: type %q", ErrBadBeat, beat.Type)
	}
	return beat, nil
}

// EncodeBeat returns the wire form of b.
func EncodeBeat(b Beat) []byte {
	out, _ := json.Marshal(b) // cannot fail: fixed struct of strings and ints
	return out
}

// heartbeatChannelInit is the DataChannelInit both sides use.
func heartbeatChannelInit() *webrtc.DataChannelInit {
	ordered, negotiated := false, true
	var retransmits uint16
	id := HeartbeatChannelID
	return &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &retransmits, Negotiated: &negotiated, ID: &id}
}

// beatState is the heartbeat bookkeeping of one PeerConnection; owned by
// the Run goroutine.
type beatState struct {
	seq       uint64 // last ping sent
	lastPong  uint64 // highest seq answered
	missed    int    // consecutive ticks whose previous ping got no pong
	sent      uint64
	lost      uint64
	rtt       time.Duration
	lastRTTAt time.Time
	// staleUpTo: pongs for pings up to this seq were sent before the path
	// came back; they count as answers but their RTT includes the outage.
	staleUpTo uint64
}

// forgetRTT drops the RTT sample and ignores the RTT of pings already
// out: called when the path comes back after trouble.
func (s *beatState) forgetRTT() {
	s.rtt, s.lastRTTAt, s.staleUpTo = 0, time.Time{}, s.seq
}

// tick accounts for the ping sent on the previous tick and returns the
// next sequence number to send. Misses and losses count only once the
// customer has answered a ping in this call: a page that does not run the
// heartbeat (the W3C Perfect Negotiation example as the specification
// gives it, issue 11) never answers, and on a working path its call would
// otherwise go Degraded after HeartbeatMisses beats and restart ICE on a
// backoff for as long as it lasts. Such a call's liveness is ICE's and the
// selected pair's (consent.go) alone.
func (s *beatState) tick() uint64 {
	if s.seq > 0 && s.lastPong > 0 && s.lastPong < s.seq {
		s.missed++
		s.lost++
	}
	s.seq++
	s.sent++
	return s.seq
}

// pong records an answer; stale or duplicate pongs are ignored. now is the
// local clock in Unix ms.
func (s *beatState) pong(b Beat, now time.Time) bool {
	if b.Seq == 0 || b.Seq > s.seq || b.Seq <= s.lastPong {
		return false
	}
	s.lastPong = b.Seq
	s.missed = 0
	if b.Seq <= s.staleUpTo {
		return true
	}
	rtt := now.Sub(time.UnixMilli(b.T))
	if rtt < 0 {
		rtt = 0
	}
	s.rtt, s.lastRTTAt = rtt, now
	return true
}
