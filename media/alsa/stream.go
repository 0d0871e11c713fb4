package alsa

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
)

// Errs are a stream package's sentinels, so the open and transfer loop
// shared here return errors that read as that package's own ("mic: …").
type Errs struct {
	Name                            string // "mic", "speaker"
	NoDevice, Gone, Format, Stalled error
}

// Wrap names the failed operation, and marks a vanished device with Gone.
func (e *Errs) Wrap(op string, err error) error {
	if Gone(err) {
		return fmt.Errorf("%s: %s: %w (%w)", e.Name, op, e.Gone, err)
	}
	return fmt.Errorf("%s: %s: %w", e.Name, op, err)
}

// Find is the package Find with e's NoDevice.
func (e *Errs) Find(dir Dir, hint string) (string, error) {
	p, err := Find(dir, hint)
	if errors.Is(err, ErrNoDevice) {
		return "", fmt.Errorf("%w: %w", e.NoDevice, err)
	}
	return p, err
}

// Setupper is the part of a PCM handle OpenS16 needs.
type Setupper interface {
	HWParamser
	Prepare() error
	Close() error
}

// OpenS16 opens path with open (Open when nil), sets it up with SetS16 and
// prepares it; it closes the device on any failure after the open. D is
// the caller's own device interface, which *PCM satisfies.
func OpenS16[D Setupper](e *Errs, path string, open func() (D, error), rate, periodFrames, periods int) (D, int, error) {
	var zero D
	if open == nil {
		open = func() (D, error) {
			p, err := Open(path)
			if err != nil {
				return zero, err // not a nil *PCM inside D
			}
			return any(p).(D), nil
		}
	}
	dev, err := open()
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || Gone(err) {
			return zero, 0, fmt.Errorf("%s: open %s: %w (%w)", e.Name, path, e.NoDevice, err)
		}
		return zero, 0, fmt.Errorf("%s: open %s: %w", e.Name, path, err)
	}
	ch, err := SetS16(dev, rate, periodFrames, periods)
	switch {
	case err != nil && Gone(err):
		dev.Close()
		return zero, 0, e.Wrap("SNDRV_PCM_IOCTL_HW_PARAMS", err)
	case err != nil:
		dev.Close()
		return zero, 0, fmt.Errorf("%w: %v", e.Format, err)
	}
	if err := dev.Prepare(); err != nil {
		dev.Close()
		return zero, 0, e.Wrap("SNDRV_PCM_IOCTL_PREPARE", err)
	}
	return dev, ch, nil
}

// Waiter is the part of a PCM handle the transfer loop needs besides the
// transfer itself.
type Waiter interface {
	Prepare() error
	Poll(timeout time.Duration) (bool, error)
}

// Loop is the non-blocking transfer loop under poll that capture and
// playback share: EAGAIN waits, EPIPE (an xrun) is recovered with PREPARE
// and counted in Xruns, and no progress for Timeout is Errs.Stalled.
type Loop struct {
	Errs      *Errs
	Op        string // the transfer ioctl, for errors
	Clock     clockwork.Clock
	Timeout   time.Duration
	PollSlice time.Duration // bounds each poll so ctx is noticed
	// WaitShort: a short transfer waits under poll before the next
	// (playback: the ring is full); else the next transfer follows at once
	// (capture: take what has arrived since).
	WaitShort bool
	Xruns     int // recovered xruns
}

// Defaults fills the stream timings left zero: no progress for 1 s is a
// stall, each poll waits at most 100 ms so ctx is noticed, the real clock.
func Defaults(timeout, pollSlice *time.Duration, clk *clockwork.Clock) {
	if *timeout == 0 {
		*timeout = time.Second
	}
	if *pollSlice == 0 {
		*pollSlice = 100 * time.Millisecond
	}
	if *clk == nil {
		*clk = clockwork.NewRealClock()
	}
}

// Run moves total frames: step(done) makes one transfer from frame done on
// and returns the frames moved, the frames it asked for and the ioctl's
// error. It does not allocate (step does not escape).
func (l *Loop) Run(ctx context.Context, dev Waiter, total int, step func(done int) (n, want int, err error)) error {
	done := 0
	last := l.Clock.Now()
	for done < total {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, want, err := step(done)
		switch {
		case err == nil:
			done += n
			if n > 0 || !l.WaitShort {
				last = l.Clock.Now()
			}
			if n == want || !l.WaitShort {
				continue
			}
		case errors.Is(err, syscall.EAGAIN):
		case errors.Is(err, syscall.EPIPE): // xrun: the ring ran dry or over
			l.Xruns++
			if err := dev.Prepare(); err != nil {
				return l.Errs.Wrap("SNDRV_PCM_IOCTL_PREPARE", err)
			}
			continue
		default:
			return l.Errs.Wrap(l.Op, err)
		}
		if l.Clock.Since(last) > l.Timeout {
			return fmt.Errorf("%w for %v", l.Errs.Stalled, l.Timeout)
		}
		if _, err := dev.Poll(l.PollSlice); err != nil && !errors.Is(err, syscall.EINTR) {
			return l.Errs.Wrap("poll", err)
		}
	}
	return nil
}
