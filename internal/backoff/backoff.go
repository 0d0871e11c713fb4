// Package backoff is the one retry backoff of the tree: the socket's
// reconnection (1 s → 5 s, ±50 %), the peer's ICE restarts (1, 2, 4, 8 s)
// and the media pipeline's device reopening (0.5 s → 30 s, ±20 %).
//
// The algorithm is socket.io-client's `backo2` (2.0), kept bit for bit
// because the socket must back off exactly as the official client does:
// delay(n) = Min·Factor^n, moved by a jitter deviation floor(r·Jitter·ms)
// whose sign is the parity of floor(r·10), capped at Max, in whole
// milliseconds. With Jitter 0 it is the plain capped exponential.
package backoff

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff hands out the delays before successive retries. The zero Factor
// is 2. A Backoff is owned by one goroutine.
type Backoff struct {
	Min, Max time.Duration
	Factor   float64        // growth per attempt; 2 when 0
	Jitter   float64        // backo2's randomizationFactor, 0 ≤ Jitter < 1
	Rand     func() float64 // uniform in [0,1); math/rand/v2 by default
	attempts int
}

// Delay is the delay after attempt n (0-based; a negative n is 0). With
// Jitter 0 it depends on n alone, so a caller that counts its own attempts
// may use it without Next.
func (b *Backoff) Delay(n int) time.Duration {
	n = max(n, 0)
	factor := b.Factor
	if factor == 0 {
		factor = 2
	}
	ms := float64(b.Min.Milliseconds()) * math.Pow(factor, float64(n))
	maxMS := float64(b.Max.Milliseconds())
	// Once even the lowest deviation lands above Max the answer is Max:
	// deviation ≤ r·Jitter·ms < Jitter·ms. Returning early is what backo2
	// would compute anyway, and it keeps ms from reaching +Inf after ~1000
	// attempts (Inf−Inf is NaN, and int32(NaN) is no delay at all).
	if ms*(1-b.Jitter) >= maxMS {
		return b.Max.Truncate(time.Millisecond)
	}
	if b.Jitter > 0 {
		rnd := b.Rand
		if rnd == nil {
			rnd = rand.Float64
		}
		r := rnd()
		deviation := math.Floor(r * b.Jitter * ms)
		if int64(math.Floor(r*10))&1 == 0 {
			ms -= deviation
		} else {
			ms += deviation
		}
	}
	ms = math.Min(ms, maxMS)
	// JavaScript's `| 0` truncates to int32.
	return time.Duration(int32(ms)) * time.Millisecond
}

// Next returns the delay for the next attempt and counts it. The first
// Next after Reset is Min±jitter.
func (b *Backoff) Next() time.Duration {
	d := b.Delay(b.attempts)
	b.attempts++
	return d
}

// Attempts is the number of delays handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempts }

// Reset starts over at Min, after a success.
func (b *Backoff) Reset() { b.attempts = 0 }
