package swenc

import (
	"fmt"
	"sync"
)

// OpusDecoder decodes the customer's Opus (48 kHz, downmixed to mono) and
// conceals lost packets: from the next packet's in-band FEC when it has
// arrived (RFC 6716 §2.1.7), else with libopus's packet loss concealment.
// Decode runs on one goroutine; Close may be called from any.
type OpusDecoder struct {
	mu   sync.Mutex
	impl *opusDecImpl // nil once closed
}

// OpusMaxFrame is the longest Opus frame in samples at 48 kHz (120 ms,
// RFC 6716 §2.1.4): the output buffer Decode needs at most.
const OpusMaxFrame = 5760

// NewOpusDecoder creates a 48 kHz mono decoder. With cgo off it returns
// ErrNoSoftwareEncoder.
func NewOpusDecoder() (*OpusDecoder, error) {
	impl, err := newOpusDecImpl()
	if err != nil {
		return nil, err
	}
	return &OpusDecoder{impl: impl}, nil
}

// Decode decodes one packet into out and returns the samples written.
// A nil packet conceals one lost frame of len(out) samples (PLC); with
// fec, packet is the one after a lost frame and its redundant copy of
// the lost frame is decoded instead (len(out) must be that frame's
// length, 20 ms from browsers). It does not allocate.
func (d *OpusDecoder) Decode(packet []byte, out []int16, fec bool) (int, error) {
	if len(out) == 0 || len(out) > OpusMaxFrame || len(out)%120 != 0 {
		return 0, fmt.Errorf("%w: %d samples is no Opus frame size", ErrFrameSize, len(out))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return 0, ErrClosed
	}
	return d.impl.decode(packet, out, fec)
}

// Reset forgets the stream (a new customer): no concealment carries over.
func (d *OpusDecoder) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl != nil {
		d.impl.reset()
	}
}

// Close frees the decoder.
func (d *OpusDecoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl != nil {
		d.impl.close()
		d.impl = nil
	}
	return nil
}
