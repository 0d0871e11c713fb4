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

// wait sleeps on the clock for the next delay; false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next
	d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	b.next = min(2*b.next, b.max)
	t := b.clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
