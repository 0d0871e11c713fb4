package aec

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
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
	// the reference's Lead, the air path and a small room's reverberation).
	Tail time.Duration
	// Lead is how far the reference is set ahead of where the timing says
	// the echo is (default 10 ms): scheduling jitter in that estimate
	// must not make the echo precede its reference, which no filter can
	// cancel.
	Lead time.Duration
	// History is how much of the speaker's signal is kept to draw the
	// reference from (default 1 s): more than the microphone can fall
	// behind.
	History time.Duration
	// NoiseSuppress is the preprocessor's noise attenuation in dB
	// (default -25; positive disables noise suppression).
	NoiseSuppress int
	// NoAGC turns automatic gain control off (on by default: a quiet
	// counter voice is brought up to a steady level).
	NoAGC bool
	// NoPreprocess leaves the residual echo suppressor, the noise
	// suppressor and the AGC out: the adaptive filter alone (benchmarks).
	NoPreprocess bool
	// Clock dates the calls (default real).
	Clock clockwork.Clock
}

func (c *Config) setDefaults() error {
	if c.Frame == 0 {
		c.Frame = 480
	}
	if c.Tail == 0 {
		c.Tail = 128 * time.Millisecond
	}
	if c.Lead == 0 {
		c.Lead = 10 * time.Millisecond
	}
	if c.History == 0 {
		c.History = time.Second
	}
	if c.NoiseSuppress == 0 {
		c.NoiseSuppress = -25
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Frame < 64 || c.Frame > 4800 || c.Tail < 10*time.Millisecond || c.Tail > time.Second ||
		c.Lead < 0 || c.Lead >= c.Tail || c.History < 100*time.Millisecond || c.History > 10*time.Second {
		return fmt.Errorf("%w: frame %d, tail %v, lead %v, history %v", ErrConfig, c.Frame, c.Tail, c.Lead, c.History)
	}
	return nil
}

// Canceller is one echo canceller shared by the speaker (Playback) and the
// microphone (Capture), each on its own goroutine.
//
// Alignment is by stream position, not by call order: Playback says how
// much of what was written is still queued in the speaker's ring, so the
// canceller knows which far-end sample is playing at that instant; Capture
// says how much captured sound still waits in the microphone's ring, so it
// knows which near-end sample is being captured at that instant. Both
// rings run on sound-card clocks, so the offset between the two streams is
// steady; it is re-taken only when three chunks in a row measure the same
// new offset, more than 5 ms away (an xrun, a device reopened), never for
// scheduling jitter, which would make the adaptive filter chase a moving
// path.
type Canceller struct {
	cfg Config

	mu     sync.Mutex // guards everything below
	impl   *impl      // nil once closed
	hist   []int16    // the far end's last History samples, by absolute index mod len
	w      int64      // far samples written so far
	anchor struct {   // the far sample playing at at
		pos float64
		at  time.Time
		ok  bool
	}
	r       int64 // near samples captured so far
	off     int64 // far index = near index + off
	offOK   bool
	drift   int   // captures in a row that measured cand instead of off
	cand    int64 // the offset they measured
	refBuf  []int16
	out     []int16
	retakes uint64 // times the offset was re-taken
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
	return &Canceller{
		cfg:    cfg,
		impl:   im,
		hist:   make([]int16, int(cfg.History*Rate/time.Second)),
		refBuf: make([]int16, cfg.Frame),
		out:    make([]int16, cfg.Frame),
	}, nil
}

// Playback records pcm, just handed to the speaker, as the echo reference;
// queued is what the speaker's ring still held right after (its DELAY; 0
// when unknown). It does not allocate.
func (c *Canceller) Playback(pcm []int16, queued time.Duration) {
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl == nil {
		return
	}
	n := int64(len(c.hist))
	for _, v := range pcm {
		c.hist[c.w%n] = v
		c.w++
	}
	c.anchor.pos = float64(c.w) - queued.Seconds()*Rate
	c.anchor.at, c.anchor.ok = now, true
}

// Capture removes the echo from microphone samples in place; backlog is
// what the microphone's ring still held right after they were read (0 when
// unknown). len(pcm) must be a multiple of Config.Frame. It does not
// allocate.
func (c *Canceller) Capture(pcm []int16, backlog time.Duration) error {
	if len(pcm)%c.cfg.Frame != 0 {
		return fmt.Errorf("%w: %d samples is not a multiple of the %d-sample frame", ErrConfig, len(pcm), c.cfg.Frame)
	}
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl == nil {
		return ErrClosed
	}
	start := c.r
	c.r += int64(len(pcm))
	c.align(now, backlog)
	n := int64(len(c.hist))
	for off := 0; off < len(pcm); off += c.cfg.Frame {
		far := start + int64(off) + c.off
		for i := range c.refBuf {
			if j := far + int64(i); c.offOK && j >= 0 && j < c.w && j >= c.w-n {
				c.refBuf[i] = c.hist[j%n]
			} else {
				c.refBuf[i] = 0 // not played (yet, or any more): no echo of it
			}
		}
		frame := pcm[off : off+c.cfg.Frame]
		c.impl.process(frame, c.refBuf, c.out)
		copy(frame, c.out)
	}
	return nil
}

// align measures the offset between the streams at now and takes it when
// there is none yet or it has moved for good; mu held.
func (c *Canceller) align(now time.Time, backlog time.Duration) {
	if !c.anchor.ok {
		return
	}
	playing := c.anchor.pos + now.Sub(c.anchor.at).Seconds()*Rate
	capturing := float64(c.r) + backlog.Seconds()*Rate
	lead := c.cfg.Lead.Seconds() * Rate
	// The reference for near sample i is far sample i+off. Adding the
	// lead takes a newer far sample, so the echo comes Lead after its
	// reference inside the filter's Tail; subtracting it (as before) put
	// the echo ahead of its reference whenever the timing was right, and
	// nothing was cancelled (TestShortEchoPath, the rig's snd-aloop test).
	meas := int64(playing - capturing + lead)
	near := func(a, b int64) bool { return a-b <= 240 && b-a <= 240 } // 5 ms
	switch {
	case !c.offOK:
		c.off, c.offOK = meas, true
	case near(meas, c.off):
		c.drift = 0
	case c.drift > 0 && near(meas, c.cand):
		// The same new offset again: three in a row is a real move (an
		// xrun), not a goroutine that was descheduled once.
		if c.drift++; c.drift >= 3 {
			c.off, c.drift = c.cand, 0
			c.retakes++
		}
	default:
		c.cand, c.drift = meas, 1
	}
}

// Retakes counts the times the stream offset was re-taken after the first
// (xruns, a device reopened, clock drift).
func (c *Canceller) Retakes() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retakes
}

// Reset forgets the learnt echo path and the alignment (the speaker or
// microphone changed).
func (c *Canceller) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.impl != nil {
		c.impl.reset()
		c.offOK, c.drift = false, 0
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
