package speaker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"

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
	Clock clock.Clock
}

// Speaker is one open ALSA playback stream, used from one goroutine.
type Speaker struct {
	cfg      Config
	dev      device
	channels int
	tmp      []int16 // interleaved frames when the device is stereo
	closed   bool
	xruns    int
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
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = time.Second
	}
	if cfg.PollSlice == 0 {
		cfg.PollSlice = 100 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	if cfg.PeriodFrames < 32 || cfg.PeriodFrames > Rate || cfg.Periods < 2 || cfg.Periods > 32 {
		return nil, fmt.Errorf("%w: %d periods of %d frames", ErrFormat, cfg.Periods, cfg.PeriodFrames)
	}
	open := cfg.openDevice
	if open == nil {
		path := cfg.Path
		open = func() (device, error) {
			p, err := alsa.Open(path)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	dev, err := open()
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || alsa.Gone(err) {
			return nil, fmt.Errorf("speaker: open %s: %w (%w)", cfg.Path, ErrNoDevice, err)
		}
		return nil, fmt.Errorf("speaker: open %s: %w", cfg.Path, err)
	}
	s := &Speaker{cfg: cfg, dev: dev}
	ch, err := alsa.SetS16(dev, Rate, cfg.PeriodFrames, cfg.Periods)
	switch {
	case err != nil && alsa.Gone(err):
		dev.Close()
		return nil, wrap("SNDRV_PCM_IOCTL_HW_PARAMS", err)
	case err != nil:
		dev.Close()
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	s.channels = ch
	if err := dev.Prepare(); err != nil {
		dev.Close()
		return nil, wrap("SNDRV_PCM_IOCTL_PREPARE", err)
	}
	if s.channels > 1 {
		s.tmp = make([]int16, cfg.PeriodFrames*s.channels)
	}
	return s, nil
}

// Channels the device plays (1, or 2 carrying the same signal).
func (s *Speaker) Channels() int { return s.channels }

// Underruns counts recovered playback underruns.
func (s *Speaker) Underruns() int { return s.xruns }

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
		return 0, wrap("SNDRV_PCM_IOCTL_DELAY", err)
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
	done := 0
	lastTaken := s.cfg.Clock.Now()
	for done < len(pcm) {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := len(pcm) - done
		var n int
		var err error
		if s.channels == 1 {
			n, err = s.dev.WriteI(pcm[done:], want)
		} else {
			want = min(want, len(s.tmp)/s.channels)
			for i := 0; i < want; i++ {
				s.tmp[2*i], s.tmp[2*i+1] = pcm[done+i], pcm[done+i]
			}
			n, err = s.dev.WriteI(s.tmp, want)
		}
		switch {
		case err == nil:
			done += n
			if n > 0 {
				lastTaken = s.cfg.Clock.Now()
			}
			if n == want {
				continue
			}
		case errors.Is(err, syscall.EAGAIN):
		case errors.Is(err, syscall.EPIPE): // underrun: the ring ran dry
			s.xruns++
			if err := s.dev.Prepare(); err != nil {
				return wrap("SNDRV_PCM_IOCTL_PREPARE", err)
			}
			continue
		default:
			return wrap("SNDRV_PCM_IOCTL_WRITEI_FRAMES", err)
		}
		if s.cfg.Clock.Since(lastTaken) > s.cfg.WriteTimeout {
			return fmt.Errorf("%w for %v", ErrStalled, s.cfg.WriteTimeout)
		}
		if _, err := s.dev.Poll(s.cfg.PollSlice); err != nil && !errors.Is(err, syscall.EINTR) {
			return wrap("poll", err)
		}
	}
	return nil
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
func Find(hint string) (string, error) {
	p, err := alsa.Find(alsa.Playback, hint)
	if errors.Is(err, alsa.ErrNoDevice) {
		return "", fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	return p, err
}
