package speaker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/alsa"
)

// Rate is the only sample rate the speaker plays (WebRTC's Opus clock).
const Rate = 48000

// device is the ioctl-level PCM handle (alsa.PCM, or a fake).
type device interface {
	HWParams(p *alsa.HWParams) error
	Prepare() error
	// WriteI writes up to frames interleaved frames from buf; EAGAIN when
	// the ring is full, EPIPE on underrun.
	WriteI(buf []int16, frames int) (int, error)
	// Delay is the frames written but not yet played.
	Delay() (int, error)
	// Poll waits up to timeout for room in the ring.
	Poll(timeout time.Duration) (bool, error)
	Close() error
}

// Config describes the playback.
type Config struct {
	// Path of the playback node ("/dev/snd/pcmC0D0p"); see Find.
	Path string
	// openDevice overrides the open (tests).
	openDevice func() (device, error)
	// PeriodFrames per ALSA period (default 480, 10 ms) and Periods in the
	// ring (default 3): the ring bounds the latency the device adds
	// (30 ms), and three periods leave the writer two to wake up in.
	PeriodFrames, Periods int
	// WriteTimeout: the device taking nothing for this long is ErrStalled
	// (default 1 s).
	WriteTimeout time.Duration
	// PollSlice bounds each poll so ctx is noticed (default 100 ms).
	PollSlice time.Duration
	// Clock (default real).
	Clock clockwork.Clock
}

// Speaker is one open ALSA playback stream, used from one goroutine.
type Speaker struct {
	cfg      Config
	dev      device
	channels int
	tmp      []int16 // interleaved frames when the device is stereo
	closed   bool
	loop     alsa.Loop
}

// Open opens the device and sets 48 kHz S16_LE, mono if the device takes
// it, else stereo (the mono signal on both channels).
func Open(cfg Config) (*Speaker, error) {
	if cfg.PeriodFrames == 0 {
		cfg.PeriodFrames = 480
	}
	if cfg.Periods == 0 {
		cfg.Periods = 3
	}
	alsa.Defaults(&cfg.WriteTimeout, &cfg.PollSlice, &cfg.Clock)
	if cfg.PeriodFrames < 32 || cfg.PeriodFrames > Rate || cfg.Periods < 2 || cfg.Periods > 32 {
		return nil, fmt.Errorf("%w: %d periods of %d frames", ErrFormat, cfg.Periods, cfg.PeriodFrames)
	}
	dev, ch, err := alsa.OpenS16(&errs, cfg.Path, cfg.openDevice, Rate, cfg.PeriodFrames, cfg.Periods)
	if err != nil {
		return nil, err
	}
	s := &Speaker{cfg: cfg, dev: dev, channels: ch, loop: alsa.Loop{
		Errs: &errs, Op: "SNDRV_PCM_IOCTL_WRITEI_FRAMES", Clock: cfg.Clock,
		Timeout: cfg.WriteTimeout, PollSlice: cfg.PollSlice, WaitShort: true,
	}}
	if s.channels > 1 {
		s.tmp = make([]int16, cfg.PeriodFrames*s.channels)
	}
	return s, nil
}

// Channels the device plays (1, or 2 carrying the same signal).
func (s *Speaker) Channels() int { return s.channels }

// Underruns counts recovered playback underruns.
func (s *Speaker) Underruns() int { return s.loop.Xruns }

// Buffer is the ring's length: the most latency the device adds.
func (s *Speaker) Buffer() time.Duration {
	return time.Duration(s.cfg.PeriodFrames*s.cfg.Periods) * time.Second / Rate
}

// Delay is how long a sample written now waits before it is played (the
// frames queued in the ring).
func (s *Speaker) Delay() (time.Duration, error) {
	if s.closed {
		return 0, ErrClosed
	}
	n, err := s.dev.Delay()
	if err != nil {
		if errors.Is(err, syscall.EPIPE) { // underrun: nothing queued
			return 0, nil
		}
		return 0, errs.Wrap("SNDRV_PCM_IOCTL_DELAY", err)
	}
	return time.Duration(max(n, 0)) * time.Second / Rate, nil
}

// Write plays mono samples: it returns once all of pcm is in the device's
// ring, waiting (under poll) while the ring is full, so the caller is paced
// by the sound card's clock. It does not allocate.
func (s *Speaker) Write(ctx context.Context, pcm []int16) error {
	if s.closed {
		return ErrClosed
	}
	return s.loop.Run(ctx, s.dev, len(pcm), func(done int) (int, int, error) {
		want := len(pcm) - done
		if s.channels == 1 {
			n, err := s.dev.WriteI(pcm[done:], want)
			return n, want, err
		}
		want = min(want, len(s.tmp)/s.channels)
		for i := 0; i < want; i++ {
			s.tmp[2*i], s.tmp[2*i+1] = pcm[done+i], pcm[done+i]
		}
		n, err := s.dev.WriteI(s.tmp, want)
		return n, want, err
	})
}

// Close drops the stream and closes the device.
func (s *Speaker) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.dev.Close()
}

// Find returns the first ALSA playback node (/dev/snd/pcmC*D*p); with a
// hint, the first whose card name in /proc/asound/cards contains it
// (case-insensitive).
func Find(hint string) (string, error) { return errs.Find(alsa.Playback, hint) }
