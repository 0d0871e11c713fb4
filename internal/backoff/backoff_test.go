package backoff

import (
	"reflect"
	"testing"
	"time"
)

func TestPlainExponential(t *testing.T) {
	// With jitter off the sequence is min·2^n capped at max.
	b := Backoff{Min: time.Second, Max: 5 * time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if b.Attempts() != 5 {
		t.Fatalf("attempts %d, want 5", b.Attempts())
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Fatalf("after reset %v", d)
	}
}

// TestICERestart: the peer's restart delays, the seed's "ICE restart
// (1 s, 2 s, 4 s, 8 s ...)", as a function of the attempt alone.
func TestICERestart(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{-1, time.Second}, {0, time.Second}, {1, 2 * time.Second}, {2, 4 * time.Second},
		{3, 8 * time.Second}, {4, 8 * time.Second}, {1000, 8 * time.Second}, {1 << 30, 8 * time.Second},
	} {
		if got := b.Delay(tc.attempt); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
}

func TestBacko2Jitter(t *testing.T) {
	// backo2's jitter: r=0.25 → floor(2.5)=2 even → ms - floor(r·0.5·ms).
	b := Backoff{Min: time.Second, Max: 5 * time.Second, Factor: 2, Jitter: 0.5, Rand: func() float64 { return 0.25 }}
	if d := b.Next(); d != 875*time.Millisecond {
		t.Fatalf("r=0.25: %v, want 875ms", d)
	}
	// r=0.35 → floor(3.5)=3 odd → ms + floor(0.35·0.5·2000)=2350.
	b.Rand = func() float64 { return 0.35 }
	if d := b.Next(); d != 2350*time.Millisecond {
		t.Fatalf("r=0.35: %v, want 2350ms", d)
	}
	// Bounds over many draws: [min·(1-j), max].
	b = Backoff{Min: time.Second, Max: 5 * time.Second, Factor: 2, Jitter: 0.5, Rand: rnd()}
	for i := range 1000 {
		if i%7 == 0 {
			b.Reset()
		}
		if d := b.Next(); d < 500*time.Millisecond || d > 5*time.Second {
			t.Fatalf("draw %d: %v out of bounds", i, d)
		}
	}
}

// TestLongOutage: after thousands of attempts (a hub away for hours) the
// delay is still Max, never the NaN that Min·2^n = +Inf would give.
func TestLongOutage(t *testing.T) {
	for _, j := range []float64{0, 0.2, 0.5, 0.99} {
		b := Backoff{Min: time.Second, Max: 5 * time.Second, Jitter: j, Rand: rnd()}
		for n := range 5000 {
			d := b.Next()
			if d < time.Duration(float64(time.Second)*(1-j))-time.Millisecond || d > 5*time.Second {
				t.Fatalf("jitter %v attempt %d: %v", j, n, d)
			}
			if n > 100 && d != 5*time.Second && j < 0.5 {
				t.Fatalf("jitter %v attempt %d: %v, want the cap", j, n, d)
			}
		}
	}
}

// TestMediaReopen: the pipeline's reopen delays stay within ±20 % of the
// doubling sequence and never above ReopenMax; the default Rand varies.
func TestMediaReopen(t *testing.T) {
	b := Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
	seen := map[time.Duration]bool{}
	for round := range 200 {
		b.Reset()
		base := 500 * time.Millisecond
		for n := range 10 {
			d := b.Next()
			lo := time.Duration(float64(base) * 0.8)
			hi := min(time.Duration(float64(base)*1.2), 30*time.Second)
			if d < lo || d > hi {
				t.Fatalf("round %d attempt %d: %v not in [%v, %v]", round, n, d, lo, hi)
			}
			if n == 0 {
				seen[d] = true
			}
			base = min(2*base, 30*time.Second)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("first delays took only %d values in 200 rounds: no jitter", len(seen))
	}
}

func rnd() func() float64 {
	x := uint64(88172645463325252)
	return func() float64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return float64(x>>11) / (1 << 53)
	}
}
