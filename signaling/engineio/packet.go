package engineio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// PacketType is the Engine.IO v4 packet type, sent as one ASCII digit.
type PacketType byte

// Packet types of the Engine.IO v4 protocol ("Packet encoding" section).
const (
	Open    PacketType = 0
	Close   PacketType = 1
	Ping    PacketType = 2
	Pong    PacketType = 3
	Message PacketType = 4
	Upgrade PacketType = 5
	Noop    PacketType = 6
)

func (t PacketType) String() string {
	switch t {
	case Open:
		return "open"
	case Close:
		return "close"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	case Message:
		return "message"
	case Upgrade:
		return "upgrade"
	case Noop:
		return "noop"
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Packet is one Engine.IO packet. Binary is only meaningful for Message
// packets: their Data is raw bytes rather than UTF-8 text.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// recordSeparator separates packets in an HTTP long-polling payload.
const recordSeparator = 0x1e

// AppendText appends the text encoding of p: the type digit followed by the
// data, or for a binary message "b" followed by standard base64 (the form used
// inside polling payloads).
func (p Packet) AppendText(dst []byte) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		n := base64.StdEncoding.EncodedLen(len(p.Data))
		dst = grow(dst, n)
		base64.StdEncoding.Encode(dst[len(dst)-n:], p.Data)
		return dst
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// EncodedLen is the length of p's text encoding.
func (p Packet) EncodedLen() int {
	if p.Binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + len(p.Data)
}

// DecodeText decodes one text-encoded packet (a WebSocket text frame or one
// record of a polling payload). The returned Data aliases b unless the packet
// is base64 binary.
func DecodeText(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, fmt.Errorf("decode packet: empty: %w", ErrMalformed)
	}
	if b[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(b)-1))
		n, err := base64.StdEncoding.Decode(data, b[1:])
		if err != nil {
			return Packet{}, fmt.Errorf("decode packet: base64: %v: %w", err, ErrMalformed)
		}
		return Packet{Type: Message, Data: data[:n], Binary: true}, nil
	}
	t := b[0] - '0'
	if t > byte(Noop) {
		return Packet{}, fmt.Errorf("decode packet: type %q: %w", b[0], ErrMalformed)
	}
	return Packet{Type: PacketType(t), Data: b[1:]}, nil
}

// AppendPayload appends the polling payload encoding of pkts: text packets
// joined by the record separator 0x1e.
func AppendPayload(dst []byte, pkts []Packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = p.AppendText(dst)
	}
	return dst
}

// DecodePayload splits a polling payload and calls fn for every packet in
// order. It stops at the first malformed packet or error from fn. Packets
// handed to fn alias data.
func DecodePayload(data []byte, fn func(Packet) error) error {
	if len(data) == 0 {
		return fmt.Errorf("decode payload: empty: %w", ErrMalformed)
	}
	for len(data) > 0 {
		rec := data
		if i := bytes.IndexByte(data, recordSeparator); i >= 0 {
			rec, data = data[:i], data[i+1:]
			if len(data) == 0 {
				return fmt.Errorf("decode payload: trailing separator: %w", ErrMalformed)
			}
		} else {
			data = nil
		}
		p, err := DecodeText(rec)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// Handshake is the JSON body of the open packet.
type Handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // ms
	PingTimeout  int64    `json:"pingTimeout"`  // ms
	MaxPayload   int64    `json:"maxPayload"`   // bytes
}

// ParseHandshake decodes and validates an open packet's data.
func ParseHandshake(data []byte) (Handshake, error) {
	var h Handshake
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("open packet: %v: %w", err, ErrHandshake)
	}
	if h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 {
		return h, fmt.Errorf("open packet: missing sid or ping settings: %w", ErrHandshake)
	}
	if h.MaxPayload <= 0 {
		h.MaxPayload = 1_000_000 // the protocol's default
	}
	return h, nil
}
