package socketio

import (
	"math"
	"time"
)

// Backo2 is socket.io-client's reconnection backoff (the `backo2` module):
// delay = min * factor^attempt, spread by ±jitter and capped at max. The
// first Duration after Reset is min±jitter. It is owned by one goroutine.
type Backo2 struct {
	Min, Max time.Duration
	Factor   float64
	Jitter   float64        // randomizationFactor, 0 ≤ Jitter < 1
	Rand     func() float64 // uniform in [0,1); math/rand/v2 by default
	attempts int
}

// Duration returns the next delay and counts an attempt. It mirrors
// Backoff.prototype.duration of backo2 2.0 bit for bit, including the
// parity trick that chooses the sign of the deviation.
func (b *Backo2) Duration() time.Duration {
	ms := float64(b.Min.Milliseconds()) * math.Pow(b.Factor, float64(b.attempts))
	b.attempts++
	if b.Jitter > 0 {
		r := b.Rand()
		deviation := math.Floor(r * b.Jitter * ms)
		if int64(math.Floor(r*10))&1 == 0 {
			ms -= deviation
		} else {
			ms += deviation
		}
	}
	ms = math.Min(ms, float64(b.Max.Milliseconds()))
	// JavaScript's `| 0` truncates to int32.
	return time.Duration(int32(ms)) * time.Millisecond
}

// Attempts is the number of delays handed out since the last Reset.
func (b *Backo2) Attempts() int { return b.attempts }

// Reset starts over at Min, after a successful connection.
func (b *Backo2) Reset() { b.attempts = 0 }
