package gpio

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestPatternAt(t *testing.T) {
	type pt struct {
		at   time.Duration
		on   bool
		next time.Duration
	}
	tests := []struct {
		name string
		p    Pattern
		pts  []pt
	}{
		{"off", Off, []pt{{0, false, 0}, {time.Hour, false, 0}}},
		{"solid", Solid, []pt{{0, true, 0}, {time.Hour, true, 0}}},
		{"empty", Pattern{}, []pt{{0, false, 0}}},
		{"slow blink 1 Hz", SlowBlink, []pt{
			{0, true, 500 * ms}, {499 * ms, true, 1 * ms}, {500 * ms, false, 500 * ms},
			{999 * ms, false, 1 * ms}, {1000 * ms, true, 500 * ms}, {3750 * ms, false, 250 * ms},
		}},
		{"fast blink 4 Hz", FastBlink, []pt{
			{0, true, 125 * ms}, {125 * ms, false, 125 * ms}, {250 * ms, true, 125 * ms}, {10*time.Second + 130*ms, false, 120 * ms},
		}},
		{"opposite phase", FastBlinkB, []pt{{0, false, 125 * ms}, {125 * ms, true, 125 * ms}}},
		{"heartbeat 1.2 s", Heartbeat, []pt{
			{0, true, 100 * ms}, {100 * ms, false, 150 * ms}, {250 * ms, true, 100 * ms},
			{350 * ms, false, 850 * ms}, {1200 * ms, true, 100 * ms}, {2450 * ms, true, 50 * ms},
		}},
		{"double blink 2 s", DoubleBlink, []pt{
			{0, true, 200 * ms}, {200 * ms, false, 200 * ms}, {400 * ms, true, 200 * ms},
			{600 * ms, false, 1400 * ms}, {2000 * ms, true, 200 * ms},
		}},
		{"negative elapsed is start", SlowBlink, []pt{{-time.Second, true, 500 * ms}}},
		{"once holds last step", SelfTest.Link, []pt{
			{0, true, time.Second}, {time.Second, false, time.Second}, {2 * time.Second, true, time.Second},
			{3 * time.Second, false, 0}, {time.Hour, false, 0},
		}},
		{"once without a hold step", Pattern{Once: true, Steps: []Step{{true, 10 * ms}, {false, 10 * ms}}}, []pt{
			{5 * ms, true, 5 * ms}, {15 * ms, false, 5 * ms}, {20 * ms, false, 0}, {time.Hour, false, 0},
		}},
		{"hold step stops cycling", Pattern{Steps: []Step{{true, 10 * ms}, {false, 0}, {true, 10 * ms}}}, []pt{
			{0, true, 10 * ms}, {10 * ms, false, 0}, {time.Hour, false, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.pts {
				on, next := tc.p.At(p.at)
				if on != p.on || next != p.next {
					t.Errorf("At(%v) = %v, %v; want %v, %v", p.at, on, next, p.on, p.next)
				}
			}
		})
	}
}

// TestFlashesCount: a technician counts n flashes in each 3 s period, and
// the device codes differ by that count.
func TestFlashesCount(t *testing.T) {
	for n := 1; n <= 3; n++ {
		p := Flashes(n)
		flashes, was := 0, false
		for at := time.Duration(0); at < 3*time.Second; at += 10 * time.Millisecond {
			on, _ := p.At(at)
			if on && !was {
				flashes++
			}
			was = on
		}
		if flashes != n {
			t.Errorf("Flashes(%d): %d flashes in 3 s", n, flashes)
		}
		if on, _ := p.At(3 * time.Second); !on {
			t.Errorf("Flashes(%d) does not repeat after 3 s", n)
		}
	}
	if Flashes(1).Equal(Flashes(2)) || Flashes(2).Equal(Flashes(3)) || Flashes(1).Name == Flashes(3).Name {
		t.Fatal("flash codes are not distinct")
	}
}
