package gpio

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

type buttonRig struct {
	clk     *clockwork.FakeClock
	b       *Button
	steps   stepper[struct{}]
	presses chan time.Time
	holds   chan time.Time
	cancel  context.CancelFunc
	done    chan error
}

func newButtonRig(t *testing.T) *buttonRig {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	r := &buttonRig{clk: clk, steps: newStepper[struct{}](), presses: make(chan time.Time, 16), holds: make(chan time.Time, 16), done: make(chan error, 1)}
	b, err := NewButton(ButtonConfig{
		Clock: clk, Logger: quiet,
		OnPress: func() { r.presses <- clk.Now() },
		OnHold:  func() { r.holds <- clk.Now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	b.afterStep = func() { r.steps.hook(struct{}{}) }
	r.b = b
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- b.Run(ctx) }()
	r.steps.wait(t)
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// edge reports a raw level and waits until the button has taken it.
func (r *buttonRig) edge(t *testing.T, active bool) {
	t.Helper()
	r.b.Edge(active)
	r.steps.wait(t)
}

// advance moves the clock; fires says whether a timer is due in that span.
func (r *buttonRig) advance(t *testing.T, d time.Duration, fires bool) {
	t.Helper()
	r.clk.Advance(d)
	if fires {
		r.steps.wait(t)
	} else {
		r.steps.none(t)
	}
}

func gotAt(t *testing.T, ch chan time.Time, want time.Time) {
	t.Helper()
	select {
	case at := <-ch:
		if !at.Equal(want) {
			t.Fatalf("callback at %v, want %v", at, want)
		}
	default:
		t.Fatal("callback not called")
	}
}

func nothing(t *testing.T, ch chan time.Time, what string) {
	t.Helper()
	select {
	case at := <-ch:
		t.Fatalf("unexpected %s at %v", what, at)
	default:
	}
}

func TestButtonShortPress(t *testing.T) {
	r := newButtonRig(t)
	r.edge(t, true)
	r.advance(t, DefaultDebounce, true) // stable down
	r.advance(t, 200*ms, false)
	r.edge(t, false)
	release := r.clk.Now()
	r.advance(t, DefaultDebounce-1*ms, false)
	nothing(t, r.presses, "press before the release settled")
	r.advance(t, 1*ms, true)
	gotAt(t, r.presses, release.Add(DefaultDebounce))
	nothing(t, r.holds, "hold")
	if r.b.Presses() != 1 || r.b.Holds() != 0 {
		t.Fatalf("counters %d/%d", r.b.Presses(), r.b.Holds())
	}
}

func TestButtonBounce(t *testing.T) {
	r := newButtonRig(t)
	// A bouncing contact: down, up, down within the debounce window.
	r.edge(t, true)
	r.advance(t, 3*ms, false)
	r.edge(t, false)
	r.advance(t, 4*ms, false)
	r.edge(t, true)
	r.advance(t, DefaultDebounce, true)
	r.advance(t, 300*ms, false)
	// Bouncing release.
	r.edge(t, false)
	r.advance(t, 2*ms, false)
	r.edge(t, true)
	r.advance(t, 2*ms, false)
	r.edge(t, false)
	last := r.clk.Now()
	r.advance(t, DefaultDebounce, true)
	gotAt(t, r.presses, last.Add(DefaultDebounce))
	nothing(t, r.presses, "second press")
}

func TestButtonGlitchIgnored(t *testing.T) {
	r := newButtonRig(t)
	r.edge(t, true)
	r.advance(t, 10*ms, false)
	r.edge(t, false)
	r.advance(t, DefaultDebounce, true) // settles back at released
	r.advance(t, time.Minute, false)
	nothing(t, r.presses, "press from a glitch")
	nothing(t, r.holds, "hold from a glitch")
}

func TestButtonHold(t *testing.T) {
	r := newButtonRig(t)
	r.edge(t, true)
	pressed := r.clk.Now()
	r.advance(t, DefaultDebounce, true)
	r.advance(t, DefaultHold-DefaultDebounce-1*ms, false)
	nothing(t, r.holds, "hold before 10 s")
	r.advance(t, 1*ms, true)
	gotAt(t, r.holds, pressed.Add(DefaultHold))
	// Keep holding: no second hold; release is not a press.
	r.advance(t, time.Minute, false)
	r.edge(t, false)
	r.advance(t, DefaultDebounce, true)
	nothing(t, r.presses, "press after a hold")
	nothing(t, r.holds, "second hold")

	// The next short press works as usual.
	r.edge(t, true)
	r.advance(t, DefaultDebounce, true)
	r.edge(t, false)
	r.advance(t, DefaultDebounce, true)
	gotAt(t, r.presses, r.clk.Now())
	if r.b.Presses() != 1 || r.b.Holds() != 1 {
		t.Fatalf("counters %d/%d", r.b.Presses(), r.b.Holds())
	}
}

func TestButtonConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  ButtonConfig
		ok   bool
	}{
		{"defaults", ButtonConfig{}, true},
		{"negative debounce", ButtonConfig{Debounce: -1}, false},
		{"hold shorter than debounce", ButtonConfig{Debounce: time.Second, Hold: time.Millisecond}, false},
		{"custom", ButtonConfig{Debounce: 5 * ms, Hold: time.Second}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewButton(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
