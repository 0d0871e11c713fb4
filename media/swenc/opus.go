package swenc

import (
	"fmt"
	"sync"
)

// OpusConfig describes an Opus encoder for 48 kHz mono speech.
type OpusConfig struct {
	// Bitrate in bits per second (default 32 kbit/s).
	Bitrate int
	// NoFEC turns off in-band forward error correction (RFC 6716 §2.1.7),
	// which is on by default: a lost packet is rebuilt from the next one.
	NoFEC bool
	// PacketLossPercent is the expected loss the FEC is sized for
	// (default 10).
	PacketLossPercent int
	// Complexity 0..10 trades CPU for quality (default 5: about half the
	// CPU of 10, which matters on a Pi Zero 2 W, with little loss for
	// speech).
	Complexity int
}

// OpusSampleRate and OpusChannels are fixed: WebRTC's Opus clock is 48 kHz
// and the microphone is mono.
const (
	OpusSampleRate = 48000
	OpusChannels   = 1
	// OpusMaxPacket bounds one encoded packet (RFC 6716 §3.4: a frame of
	// at most 1275 bytes).
	OpusMaxPacket = 1500
)

// Opus is an Opus encoder. Encode runs on one goroutine; SetBitrate may be
// called from any.
type Opus struct {
	mu   sync.Mutex // guards impl
	impl *opusImpl  // nil once closed
}

// NewOpus creates an encoder (application VOIP, 48 kHz, mono). With cgo
// off it returns ErrNoSoftwareEncoder.
func NewOpus(cfg OpusConfig) (*Opus, error) {
	if cfg.Bitrate == 0 {
		cfg.Bitrate = 32_000
	}
	if cfg.PacketLossPercent == 0 {
		cfg.PacketLossPercent = 10
	}
	if cfg.Complexity == 0 {
		cfg.Complexity = 5
	}
	if cfg.Bitrate < 6000 || cfg.Bitrate > 510_000 || cfg.PacketLossPercent < 0 || cfg.PacketLossPercent > 100 ||
		cfg.Complexity < 0 || cfg.Complexity > 10 {
		return nil, fmt.Errorf("%w: opus bitrate %d, loss %d%%", ErrConfig, cfg.Bitrate, cfg.PacketLossPercent)
	}
	impl, err := newOpusImpl(&cfg)
	if err != nil {
		return nil, err
	}
	return &Opus{impl: impl}, nil
}

// Encode encodes one frame of pcm (2.5, 5, 10, 20, 40 or 60 ms of 48 kHz
// mono samples) into out and returns the packet length. It does not
// allocate.
func (o *Opus) Encode(pcm []int16, out []byte) (int, error) {
	switch len(pcm) {
	case 120, 240, 480, 960, 1920, 2880:
	default:
		return 0, fmt.Errorf("%w: %d samples is no Opus frame size", ErrFrameSize, len(pcm))
	}
	if len(out) == 0 {
		return 0, fmt.Errorf("%w: empty output buffer", ErrConfig)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.impl == nil {
		return 0, ErrClosed
	}
	return o.impl.encode(pcm, out)
}

// SetBitrate changes the bitrate for the next frame.
func (o *Opus) SetBitrate(bps int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.impl == nil {
		return ErrClosed
	}
	return o.impl.setBitrate(bps)
}

// Close frees the encoder.
func (o *Opus) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.impl != nil {
		o.impl.close()
		o.impl = nil
	}
	return nil
}
