package mic

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/alsa"
)

// Rate is the only sample rate the mic delivers (WebRTC's Opus clock).
const Rate = 48000

// device is the ioctl-level PCM handle (alsa.PCM, or a fake).
type device interface {
	HWParams(p *alsa.HWParams) error
	Prepare() error
	// ReadI reads up to frames interleaved frames into buf; EAGAIN when
	// none are ready, EPIPE on overrun.
	ReadI(buf []int16, frames int) (int, error)
	// Poll waits up to timeout for capture data.
	Poll(timeout time.Duration) (bool, error)
	// Delay is the frames captured but not yet read.
	Delay() (int, error)
	Close() error
}

// Config describes the capture.
type Config struct {
	// Path of the capture node ("/dev/snd/pcmC1D0c"); see Find.
	Path string
	// openDevice overrides the open (tests).
	openDevice func() (device, error)
	// PeriodFrames per ALSA period (default 960, 20 ms).
	PeriodFrames int
	// ReadTimeout: no samples for this long is ErrStalled (default 1 s).
	ReadTimeout time.Duration
	// PollSlice bounds each poll so ctx is noticed (default 100 ms).
	PollSlice time.Duration
	// Clock stamps chunks (default real).
	Clock clockwork.Clock
}

// Mic is one open ALSA capture stream, used from one goroutine.
type Mic struct {
	cfg      Config
	dev      device
	channels int
	tmp      []int16 // interleaved frames when the device is stereo
	closed   bool
	loop     alsa.Loop
}

// Open opens the device and sets 48 kHz S16_LE, mono if the device takes
// it, else stereo (downmixed on read).
func Open(cfg Config) (*Mic, error) {
	if cfg.PeriodFrames == 0 {
		cfg.PeriodFrames = 960
	}
	alsa.Defaults(&cfg.ReadTimeout, &cfg.PollSlice, &cfg.Clock)
	dev, ch, err := alsa.OpenS16(&errs, cfg.Path, cfg.openDevice, Rate, cfg.PeriodFrames, 4)
	if err != nil {
		return nil, err
	}
	m := &Mic{cfg: cfg, dev: dev, channels: ch, loop: alsa.Loop{
		Errs: &errs, Op: "SNDRV_PCM_IOCTL_READI_FRAMES", Clock: cfg.Clock,
		Timeout: cfg.ReadTimeout, PollSlice: cfg.PollSlice,
	}}
	if m.channels > 1 {
		m.tmp = make([]int16, cfg.PeriodFrames*m.channels)
	}
	return m, nil
}

// Channels the device captures (1, or 2 downmixed to mono).
func (m *Mic) Channels() int { return m.channels }

// Overruns counts recovered capture overruns.
func (m *Mic) Overruns() int { return m.loop.Xruns }

// ReadPCM fills buf with mono samples and returns the capture time of the
// first (the time the read completed, less the buffer's duration). It does
// not allocate.
func (m *Mic) ReadPCM(ctx context.Context, buf []int16) (time.Time, error) {
	if m.closed {
		return time.Time{}, ErrClosed
	}
	err := m.loop.Run(ctx, m.dev, len(buf), func(got int) (int, int, error) {
		want := len(buf) - got
		if m.channels == 1 {
			n, err := m.dev.ReadI(buf[got:], want)
			return n, want, err
		}
		want = min(want, len(m.tmp)/m.channels)
		n, err := m.dev.ReadI(m.tmp, want)
		for i := 0; i < n; i++ {
			buf[got+i] = int16((int32(m.tmp[2*i]) + int32(m.tmp[2*i+1])) / 2)
		}
		return n, want, err
	})
	if err != nil {
		return time.Time{}, err
	}
	return m.cfg.Clock.Now().Add(-time.Duration(len(buf)) * time.Second / Rate), nil
}

// Backlog is the sound captured but not yet read (DELAY), 0 when the
// driver cannot tell: the echo canceller dates the samples with it.
func (m *Mic) Backlog() time.Duration {
	if m.closed {
		return 0
	}
	n, err := m.dev.Delay()
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second / Rate
}

// Close stops the stream and closes the device.
func (m *Mic) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	return m.dev.Close()
}
