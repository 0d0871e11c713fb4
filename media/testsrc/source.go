package testsrc

import (
	"context"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"
)

// VideoConfig configures a paced pattern source.
type VideoConfig struct {
	Width, Height int
	// FPS is the frame rate (default 30).
	FPS int
	// Clock paces frames and stamps them (default the real clock).
	Clock clockwork.Clock
}

// Video is a live test-pattern source: ReadFrame returns one frame per
// frame interval of the clock. It is used by one goroutine at a time.
type Video struct {
	cfg    VideoConfig
	pat    *Pattern
	ticker clockwork.Ticker // created on the first ReadFrame
	n      uint64
}

// NewVideo validates cfg and returns a source; nothing runs until ReadFrame.
func NewVideo(cfg VideoConfig) (*Video, error) {
	if cfg.FPS == 0 {
		cfg.FPS = 30
	}
	if cfg.FPS < 1 || cfg.FPS > 120 {
		return nil, fmt.Errorf("%w: %d fps", ErrSize, cfg.FPS)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	p, err := NewPattern(cfg.Width, cfg.Height)
	if err != nil {
		return nil, err
	}
	return &Video{cfg: cfg, pat: p}, nil
}

// Interval is the frame interval.
func (v *Video) Interval() time.Duration { return time.Second / time.Duration(v.cfg.FPS) }

// ReadFrame waits for the next frame time and returns the I420 picture and
// its capture time. data is valid until the next ReadFrame. In steady state
// it does not allocate.
func (v *Video) ReadFrame(ctx context.Context) (data []byte, at time.Time, err error) {
	if v.ticker == nil {
		v.ticker = v.cfg.Clock.NewTicker(v.Interval())
	} else {
		select {
		case <-v.ticker.Chan():
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		}
	}
	at = v.cfg.Clock.Now()
	data = v.pat.Render(v.n, at)
	v.n++
	return data, at, nil
}

// Close stops the pacing ticker.
func (v *Video) Close() error {
	if v.ticker != nil {
		v.ticker.Stop()
	}
	return nil
}

// AudioConfig configures a paced tone source.
type AudioConfig struct {
	// Freq of the tone in Hz (default 440).
	Freq float64
	// Chunk is the duration of one ReadPCM (default 20 ms, one Opus frame).
	Chunk time.Duration
	// Clock paces chunks (default the real clock).
	Clock clockwork.Clock
}

// Audio is a live test-tone source at 48 kHz mono.
type Audio struct {
	cfg    AudioConfig
	tone   *Tone
	ticker clockwork.Ticker
}

// NewAudio returns a paced tone source.
func NewAudio(cfg AudioConfig) (*Audio, error) {
	if cfg.Chunk == 0 {
		cfg.Chunk = 20 * time.Millisecond
	}
	if cfg.Chunk < time.Millisecond || cfg.Chunk > time.Second {
		return nil, fmt.Errorf("%w: audio chunk %v", ErrSize, cfg.Chunk)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &Audio{cfg: cfg}, nil
}

// ChunkSamples is the number of samples ReadPCM wants.
func (a *Audio) ChunkSamples() int { return int(a.cfg.Chunk * SampleRate / time.Second) }

// ReadPCM waits for the next chunk time and fills buf (ChunkSamples long)
// with tone samples, returning the time of the first. It does not allocate.
func (a *Audio) ReadPCM(ctx context.Context, buf []int16) (time.Time, error) {
	if a.ticker == nil {
		a.ticker = a.cfg.Clock.NewTicker(a.cfg.Chunk)
		a.tone = NewTone(a.cfg.Freq, a.cfg.Clock.Now())
	} else {
		select {
		case <-a.ticker.Chan():
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
	return a.tone.Read(buf), nil
}

// Close stops the pacing ticker.
func (a *Audio) Close() error {
	if a.ticker != nil {
		a.ticker.Stop()
	}
	return nil
}
