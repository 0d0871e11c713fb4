package gpio

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// Button defaults.
const (
	// DefaultDebounce is how long the level must be stable to count: longer
	// than a tactile switch's bounce (typically < 10 ms), shorter than a
	// deliberate tap.
	DefaultDebounce = 30 * time.Millisecond
	// DefaultHold is the long-press time that resets the setup password (issue 6).
	DefaultHold = 10 * time.Second
)

// ButtonConfig configures a Button.
type ButtonConfig struct {
	// Clock times debounce and hold; nil means the real clock.
	Clock clockwork.Clock
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Debounce and Hold; 0 means the defaults.
	Debounce, Hold time.Duration
	// OnPress is called on release after a short press (end the call).
	// OnHold is called once when the button has been held for Hold (reset
	// the setup password); the release that follows is not a press.
	// Both run on the Button's goroutine and must not block.
	OnPress, OnHold func()
}

// Button turns raw edges into debounced presses and holds. Edge may be
// called from any goroutine (the chip's event handler); one goroutine (Run)
// owns the state machine.
type Button struct {
	clk            clockwork.Clock
	log            *slog.Logger
	debounce, hold time.Duration
	onPress        func()
	onHold         func()

	raw  atomic.Bool   // latest raw level from Edge
	wake chan struct{} // one slot: raw changed

	presses, holds atomic.Int64

	afterStep func() // tests: called by Run after each event
}

// NewButton validates cfg.
func NewButton(cfg ButtonConfig) (*Button, error) {
	if cfg.Debounce < 0 || cfg.Hold < 0 {
		return nil, fmt.Errorf("gpio: button debounce %v hold %v: must not be negative", cfg.Debounce, cfg.Hold)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Hold == 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.Hold <= cfg.Debounce {
		return nil, fmt.Errorf("gpio: button hold %v must be longer than debounce %v", cfg.Hold, cfg.Debounce)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnPress == nil {
		cfg.OnPress = func() {}
	}
	if cfg.OnHold == nil {
		cfg.OnHold = func() {}
	}
	return &Button{
		clk: cfg.Clock, log: cfg.Logger.With("component", "button"),
		debounce: cfg.Debounce, hold: cfg.Hold,
		onPress: cfg.OnPress, onHold: cfg.OnHold,
		wake: make(chan struct{}, 1),
	}, nil
}

// Edge reports the raw logical level (true = pressed). It never blocks;
// bursts of bounces coalesce, which is all debouncing needs.
func (b *Button) Edge(active bool) {
	b.raw.Store(active)
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Presses and Holds count recognised gestures (for metrics and tests).
func (b *Button) Presses() int64 { return b.presses.Load() }

// Holds counts recognised long holds.
func (b *Button) Holds() int64 { return b.holds.Load() }

// Run debounces until ctx ends, then returns nil.
//
// A level counts once it has been stable for Debounce after the last edge.
// A stable press starts the hold timer, so OnHold runs Hold after the last
// press edge; a stable release before that is a short press.
func (b *Button) Run(ctx context.Context) error {
	var (
		stable   bool // debounced level
		held     bool // OnHold already fired for this press
		settle   clockwork.Timer
		settleC  <-chan time.Time
		holdT    clockwork.Timer
		holdC    <-chan time.Time
		stopHold = func() {
			if holdT != nil {
				holdT.Stop()
				holdT, holdC = nil, nil
			}
		}
	)
	defer func() {
		if settle != nil {
			settle.Stop()
		}
		stopHold()
	}()
	b.step()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
			// Every edge restarts the settle period (a fresh timer: a
			// stopped mock timer's stale tick must not be read).
			if settle != nil {
				settle.Stop()
			}
			settle = b.clk.NewTimer(b.debounce)
			settleC = settle.Chan()
		case <-settleC:
			settle, settleC = nil, nil
			level := b.raw.Load()
			if level == stable {
				break // a glitch shorter than the debounce
			}
			stable = level
			if stable {
				held = false
				// The press began at the last edge, Debounce ago.
				holdT = b.clk.NewTimer(b.hold - b.debounce)
				holdC = holdT.Chan()
				b.log.Debug("button down")
				break
			}
			stopHold()
			if !held {
				b.presses.Add(1)
				b.log.Info("button press: end call")
				b.onPress()
			}
		case <-holdC:
			holdT, holdC = nil, nil
			if stable && !held {
				held = true
				b.holds.Add(1)
				b.log.Warn("button held: resetting the setup password", "hold", b.hold)
				b.onHold()
			}
		}
		b.step()
	}
}

func (b *Button) step() {
	if b.afterStep != nil {
		b.afterStep()
	}
}
