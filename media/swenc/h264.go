package swenc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tether/media/h264"
)

// Config describes one software H.264 encoder. Zero fields take the
// defaults noted.
type Config struct {
	// Width and Height of the I420 frames, required, even.
	Width, Height int
	// FrameRate in frames per second (default 30).
	FrameRate int
	// Bitrate target in bits per second (default 1 Mbit/s).
	Bitrate int
	// KeyframeInterval in frames (default 4 s of frames); keyframes on
	// demand come from ForceKeyframe.
	KeyframeInterval int
	// Threads for openh264 (default 1: the pipeline has other work and the
	// boards have few cores; 0 in openh264 would mean "auto").
	Threads int
	// Sink receives every access unit on the goroutine that called Encode.
	// AccessUnit.Data is valid only during the call.
	Sink func(AccessUnit)
	// Logger (default slog.Default()); records get component=swenc.
	Logger *slog.Logger
}

// Frame is one raw I420 picture (packed planes: Y, then U, then V).
type Frame struct {
	Data      []byte
	Timestamp time.Duration
}

// AccessUnit is one coded picture in Annex B form.
type AccessUnit struct {
	Data      []byte
	Timestamp time.Duration
	Keyframe  bool
}

// Stats are cumulative counters.
type Stats struct {
	Frames, Units, Keyframes, Forced, Skipped, Bytes uint64
}

func (c *Config) setDefaults() {
	if c.FrameRate == 0 {
		c.FrameRate = 30
	}
	if c.Bitrate == 0 {
		c.Bitrate = 1_000_000
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 4 * c.FrameRate
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Sink == nil:
		return fmt.Errorf("%w: Sink is nil", ErrConfig)
	case c.Width < 16 || c.Height < 16 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("%w: size %dx%d", ErrConfig, c.Width, c.Height)
	case c.FrameRate < 1 || c.FrameRate > 120:
		return fmt.Errorf("%w: frame rate %d", ErrConfig, c.FrameRate)
	case c.Bitrate < 10_000:
		return fmt.Errorf("%w: bitrate %d", ErrConfig, c.Bitrate)
	case c.KeyframeInterval < 1:
		return fmt.Errorf("%w: keyframe interval %d", ErrConfig, c.KeyframeInterval)
	}
	return nil
}

// H264 is a software H.264 encoder. Encode runs the codec synchronously on
// the caller's goroutine (the pipeline's video goroutine); ForceKeyframe
// and SetBitrate only record a request that the next Encode applies, so
// they are safe from any goroutine (pion's RTCP readers).
type H264 struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex // serialises Encode and Close over impl
	impl   *h264Impl  // nil once closed
	closed chan struct{}
	once   sync.Once

	forceKey atomic.Bool
	bitrate  atomic.Int64 // wanted; applied by Encode when it differs
	applied  int64        // bitrate the codec has; guarded by mu

	frames, units, keyframes, forced, skipped, bytes atomic.Uint64
}

// NewH264 validates cfg and creates the codec. With cgo off it returns
// ErrNoSoftwareEncoder.
func NewH264(cfg Config) (*H264, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	impl, err := newH264Impl(&cfg)
	if err != nil {
		return nil, err
	}
	e := &H264{cfg: cfg, log: cfg.Logger.With("component", "swenc"), impl: impl,
		closed: make(chan struct{}), applied: int64(cfg.Bitrate)}
	e.bitrate.Store(int64(cfg.Bitrate))
	return e, nil
}

// Run blocks until ctx ends, then closes the codec. It exists so the
// pipeline supervises the software and hardware encoders alike.
func (e *H264) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-e.closed:
	}
	return e.Close()
}

// Encode encodes one frame and hands the access unit (if the codec
// produced one) to Sink before returning.
func (e *H264) Encode(ctx context.Context, f Frame) error {
	if len(f.Data) < e.cfg.Width*e.cfg.Height*3/2 {
		return fmt.Errorf("%w: %d bytes for %dx%d", ErrFrameSize, len(f.Data), e.cfg.Width, e.cfg.Height)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.impl == nil {
		return ErrClosed
	}
	if b := e.bitrate.Load(); b != e.applied {
		e.impl.setBitrate(int(b))
		e.applied = b
	}
	forced := e.forceKey.Swap(false)
	if forced {
		e.impl.forceKeyframe()
		e.forced.Add(1)
	}
	data, err := e.impl.encode(f.Data)
	e.frames.Add(1)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEncode, err)
	}
	if len(data) == 0 { // rate control skipped the frame
		e.skipped.Add(1)
		if forced { // keep the request for the next frame
			e.forceKey.Store(true)
		}
		return nil
	}
	key := h264.Scan(data).IDR
	e.units.Add(1)
	e.bytes.Add(uint64(len(data)))
	if key {
		e.keyframes.Add(1)
	}
	e.cfg.Sink(AccessUnit{Data: data, Timestamp: f.Timestamp, Keyframe: key})
	return nil
}

// ForceKeyframe makes the next encoded frame an IDR (with SPS and PPS).
func (e *H264) ForceKeyframe() { e.forceKey.Store(true) }

// SetBitrate changes the target bitrate from the next frame on.
func (e *H264) SetBitrate(bps int) {
	if bps >= 10_000 {
		e.bitrate.Store(int64(bps))
	}
}

// Stats returns the cumulative counters.
func (e *H264) Stats() Stats {
	return Stats{Frames: e.frames.Load(), Units: e.units.Load(), Keyframes: e.keyframes.Load(),
		Forced: e.forced.Load(), Skipped: e.skipped.Load(), Bytes: e.bytes.Load()}
}

// Close frees the codec; later Encodes return ErrClosed.
func (e *H264) Close() error {
	e.once.Do(func() { close(e.closed) })
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.impl == nil {
		return nil
	}
	err := e.impl.close()
	e.impl = nil
	return err
}
