package media

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/benbjohnson/clock"
)

// backoff is an exponential backoff with ±20% jitter that resets on
// success; owned by one goroutine.
type backoff struct {
	min, max, next time.Duration
	clk            clock.Clock
}

func newBackoff(clk clock.Clock, min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, next: min, clk: clk}
}

func (b *backoff) reset() { b.next = b.min }

// delay returns the next jittered delay and doubles the one after.
func (b *backoff) delay() time.Duration {
	d := b.next
	d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	b.next = min(2*b.next, b.max)
	return d
}

// wait sleeps on the clock for the next delay; false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := b.clk.Timer(b.delay())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Backoff is the same backoff for the output side (media/display), whose
// Run loop waits on a timer in its own select: Next gives the delay.
type Backoff struct{ b backoff }

// NewBackoff returns a backoff from min doubling to max, ±20% jitter.
func NewBackoff(clk clock.Clock, min, max time.Duration) *Backoff {
	return &Backoff{b: backoff{min: min, max: max, next: min, clk: clk}}
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration { return b.b.delay() }

// Reset starts over from min after a success.
func (b *Backoff) Reset() { b.b.reset() }
