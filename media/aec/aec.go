package aec

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Rate is the sample rate of both directions (WebRTC's Opus clock).
const Rate = 48000

// Sentinel errors; returned errors wrap them.
var (
	// ErrUnavailable: built with cgo off (no libspeexdsp).
	ErrUnavailable = errors.New("aec: no echo canceller in this build (cgo off)")
	// ErrConfig: Config failed validation.
	ErrConfig = errors.New("aec: invalid config")
	// ErrClosed: the canceller was closed.
	ErrClosed = errors.New("aec: closed")
)

// Config describes a canceller. Zero fields take the defaults noted.
type Config struct {
	// Frame is the processing block in samples (default 480, 10 ms: the
	// speexdsp manual's advice of 10–20 ms).
	Frame int
	// Tail is the echo path the adaptive filter covers (default 128 ms:
	// the speaker's 30 ms ring, the reference's lead and a small room).
	Tail time.Duration
	// MaxLead bounds the reference kept waiting for its capture (default
	// 40 ms, two 20 ms chunks).
	MaxLead time.Duration
	// NoiseSuppress is the preprocessor's noise attenuation in dB
	// (default -25; positive disables noise suppression).
	NoiseSuppress int
	// NoAGC turns automatic gain control off (on by default: a quiet
	// counter voice is brought up to a steady level).
	NoAGC bool
	// NoPreprocess leaves the residual echo suppressor, the noise
	// suppressor and the AGC out: the adaptive filter alone (benchmarks).
	NoPreprocess bool
}

func (c *Config) setDefaults() error {
	if c.Frame == 0 {
		c.Frame = 480
	}
	if c.Tail == 0 {
		c.Tail = 128 * time.Millisecond
	}
	if c.MaxLead == 0 {
		c.MaxLead = 40 * time.Millisecond
	}
	if c.NoiseSuppress == 0 {
		c.NoiseSuppress = -25
	}
	if c.Frame < 64 || c.Frame > 4800 || c.Tail < 10*time.Millisecond || c.Tail > time.Second ||
		c.MaxLead < time.Duration(c.Frame)*time.Second/Rate || c.MaxLead > time.Second {
		return fmt.Errorf("%w: frame %d, tail %v, lead %v", ErrConfig, c.Frame, c.Tail, c.MaxLead)
	}
	return nil
}

// Canceller is one echo canceller shared by the speaker (Playback) and the
// microphone (Capture), each on its own goroutine.
type Canceller struct {
	cfg Config

	mu     sync.Mutex // guards everything below
	impl   *impl      // nil once closed
	ref    []int16    // reference FIFO: ref[head:head+n] in ring order
	head   int
	n      int
	refBuf []int16 // one frame of reference, handed to speexdsp
	out    []int16 // one frame of output

	dropped, starved uint64
}

// New creates a canceller; with cgo off, ErrUnavailable.
func New(cfg Config) (*Canceller, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	im, err := newImpl(&cfg)
	if err != nil {
		return nil, err
	}
	lead := int(cfg.MaxLead * Rate / time.Second)
	return &Canceller{
		cfg:    cfg,
		impl:   im,
		ref:    make([]int16, lead+cfg.Frame),
		refBuf: make([]int16, cfg.Frame),
		out:    make([]int16, cfg.Frame),
	}, nil
}

// Playback records samples handed to the speaker as the echo reference.
// It does not allocate.
func (c *Canceller) Playback(pcm []int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl == nil {
		return
	}
	size := len(c.ref)
	for _, v := range pcm {
		if c.n == size { // full: the oldest goes (see MaxLead)
			c.head = (c.head + 1) % size
			c.n--
			c.dropped++
		}
		c.ref[(c.head+c.n)%size] = v
		c.n++
	}
}

// Capture removes the echo from microphone samples in place; len(pcm) must
// be a multiple of Config.Frame. It does not allocate.
func (c *Canceller) Capture(pcm []int16) error {
	if len(pcm)%c.cfg.Frame != 0 {
		return fmt.Errorf("%w: %d samples is not a multiple of the %d-sample frame", ErrConfig, len(pcm), c.cfg.Frame)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl == nil {
		return ErrClosed
	}
	lead := int(c.cfg.MaxLead * Rate / time.Second)
	for off := 0; off < len(pcm); off += c.cfg.Frame {
		// Keep no more than MaxLead waiting once this frame is taken.
		for c.n > lead+c.cfg.Frame {
			c.head = (c.head + 1) % len(c.ref)
			c.n--
			c.dropped++
		}
		for i := range c.refBuf {
			if c.n == 0 {
				c.refBuf[i] = 0 // no speaker, or it fell behind
				c.starved++
				continue
			}
			c.refBuf[i] = c.ref[c.head]
			c.head = (c.head + 1) % len(c.ref)
			c.n--
		}
		frame := pcm[off : off+c.cfg.Frame]
		c.impl.process(frame, c.refBuf, c.out)
		copy(frame, c.out)
	}
	return nil
}

// Stats are the reference samples dropped (more than MaxLead waiting) and
// starved (none waiting: zeros used).
func (c *Canceller) Stats() (dropped, starved uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped, c.starved
}

// Reset forgets the learnt echo path (the speaker or microphone changed).
func (c *Canceller) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl != nil {
		c.impl.reset()
		c.head, c.n = 0, 0
	}
}

// Close frees the canceller; Capture then returns ErrClosed.
func (c *Canceller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl != nil {
		c.impl.close()
		c.impl = nil
	}
	return nil
}
