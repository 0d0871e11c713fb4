package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// PacketType is the Socket.IO v5 packet type.
type PacketType byte

// Packet types ("Packet format" of the Socket.IO v5 protocol).
const (
	Connect      PacketType = 0
	Disconnect   PacketType = 1
	Event        PacketType = 2
	Ack          PacketType = 3
	ConnectError PacketType = 4
	BinaryEvent  PacketType = 5
	BinaryAck    PacketType = 6
)

func (t PacketType) String() string {
	names := [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// MaxAttachments bounds the binary attachments of one packet; a peer that
// announces more is refused before any is buffered.
const MaxAttachments = 64

// maxID is the largest ack id accepted: JavaScript numbers are exact up to
// 2^53.
const maxID = 1<<53 - 1

// NoID marks a packet without an acknowledgement id.
const NoID int64 = -1

// Packet is one Socket.IO packet. Data is the raw JSON payload (an object
// for CONNECT and CONNECT_ERROR, an array for events and acks). Binary
// packets carry their attachments in Attachments, referenced from Data by
// {"_placeholder":true,"num":n} objects.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when empty
	ID          int64  // NoID when absent
	Data        json.RawMessage
	Attachments [][]byte
}

func (p *Packet) nsp() string {
	if p.Namespace == "" {
		return "/"
	}
	return p.Namespace
}

// AppendText appends the text part of p's encoding: type, attachment count
// for binary packets, namespace, id and data. The attachments follow as
// separate binary Engine.IO messages.
func (p *Packet) AppendText(dst []byte) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if nsp := p.nsp(); nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// DecodeText decodes the text part of a packet. For a binary packet the
// returned count says how many attachments must follow; Data aliases b.
func DecodeText(b []byte) (p Packet, attachments int, err error) {
	p.ID = NoID
	if len(b) == 0 {
		return p, 0, fmt.Errorf("decode: empty packet: %w", ErrMalformed)
	}
	t := b[0] - '0'
	if t > byte(BinaryAck) {
		return p, 0, fmt.Errorf("decode: packet type %q: %w", b[0], ErrMalformed)
	}
	p.Type = PacketType(t)
	i := 1
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j >= len(b) || b[j] != '-' || j-i > 3 {
			return p, 0, fmt.Errorf("decode: attachment count: %w", ErrMalformed)
		}
		attachments, _ = strconv.Atoi(string(b[i:j]))
		if attachments > MaxAttachments {
			return p, 0, fmt.Errorf("decode: %d attachments (max %d): %w", attachments, MaxAttachments, ErrMalformed)
		}
		i = j + 1
	}
	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			// A namespace with nothing after it ("1/admin") is valid.
			j = len(b) - i
		}
		p.Namespace = string(b[i : i+j])
		i += j
		if i < len(b) {
			i++ // the comma
		}
	}
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j > i {
		if j-i > 16 {
			return p, 0, fmt.Errorf("decode: ack id too long: %w", ErrMalformed)
		}
		id, _ := strconv.ParseInt(string(b[i:j]), 10, 64)
		if id > maxID {
			return p, 0, fmt.Errorf("decode: ack id %d out of range: %w", id, ErrMalformed)
		}
		p.ID = id
		i = j
	}
	if i < len(b) {
		p.Data = json.RawMessage(b[i:])
	}
	if err := p.validate(attachments); err != nil {
		return p, 0, err
	}
	return p, attachments, nil
}

// validate checks the payload shape each packet type requires.
func (p *Packet) validate(attachments int) error {
	first := byte(0)
	if d := bytes.TrimLeft(p.Data, " \t\r\n"); len(d) > 0 {
		first = d[0]
	}
	switch p.Type {
	case Connect:
		if first != 0 && first != '{' {
			return fmt.Errorf("decode: CONNECT payload must be an object: %w", ErrMalformed)
		}
	case Disconnect:
		// Any payload is ignored.
	case ConnectError:
		if first != '{' && first != '"' {
			return fmt.Errorf("decode: CONNECT_ERROR payload: %w", ErrMalformed)
		}
	case Event, BinaryEvent, Ack, BinaryAck:
		if first != '[' {
			return fmt.Errorf("decode: %v payload must be an array: %w", p.Type, ErrMalformed)
		}
		if (p.Type == Ack || p.Type == BinaryAck) && p.ID < 0 {
			return fmt.Errorf("decode: %v without id: %w", p.Type, ErrMalformed)
		}
	}
	if len(p.Data) > 0 && !json.Valid(p.Data) {
		return fmt.Errorf("decode: %v payload is not valid JSON: %w", p.Type, ErrMalformed)
	}
	return nil
}

// Decoder reassembles packets whose binary attachments arrive as separate
// Engine.IO messages. The zero value is ready; it is not safe for
// concurrent use.
type Decoder struct {
	// MaxBytes bounds the attachments of one packet in total (zero: no
	// bound). Each attachment is already bounded by the transport's
	// maxPayload, but 64 of them would be 64 times that, held before the
	// packet is complete; the server sets this to maxPayload.
	MaxBytes int64

	pending *Packet
	want    int
	size    int64
}

// AddText decodes a text message. It returns the packet when complete, or
// nil when attachments must follow.
func (d *Decoder) AddText(b []byte) (*Packet, error) {
	if d.pending != nil {
		d.Reset()
		return nil, fmt.Errorf("decode: text packet while %d attachments were expected: %w", d.want, ErrMalformed)
	}
	p, n, err := DecodeText(b)
	if err != nil {
		return nil, err
	}
	// Data aliases b, which the transport may reuse: keep a copy.
	p.Data = append(json.RawMessage(nil), p.Data...)
	if n == 0 {
		return &p, nil
	}
	p.Attachments = make([][]byte, 0, n)
	d.pending, d.want = &p, n
	return nil, nil
}

// AddBinary adds one attachment. It returns the packet when it was the last.
func (d *Decoder) AddBinary(b []byte) (*Packet, error) {
	if d.pending == nil {
		return nil, fmt.Errorf("decode: unexpected binary attachment: %w", ErrMalformed)
	}
	d.size += int64(len(b))
	if d.MaxBytes > 0 && d.size > d.MaxBytes {
		d.Reset()
		return nil, fmt.Errorf("decode: attachments above %d bytes: %w", d.MaxBytes, ErrMalformed)
	}
	d.pending.Attachments = append(d.pending.Attachments, b)
	if len(d.pending.Attachments) < d.want {
		return nil, nil
	}
	p := d.pending
	d.Reset()
	return p, nil
}

// Reset drops a partially received packet (after a reconnect).
func (d *Decoder) Reset() { d.pending, d.want, d.size = nil, 0, 0 }
