package gpio

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"tether/appliance/health"
)

// Line is an output the player drives: 1 lights the LED, 0 darkens it
// (active-low wiring is handled when the line is requested).
// *gpiocdev.Line satisfies it.
type Line interface {
	SetValue(value int) error
}

// PlayerConfig configures a Player.
type PlayerConfig struct {
	// Link and Status are the two LEDs; nil means not fitted.
	Link, Status Line
	// Scheme maps states to patterns; nil means DefaultScheme().
	Scheme Scheme
	// Clock drives the blinking; nil means the real clock.
	Clock clock.Clock
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Updates, if set, is followed: each snapshot's Overall state is shown
	// (typically a health.Subscription's C()). SetState works as well.
	Updates <-chan health.Snapshot
}

// Player shows one Look at a time on the LEDs. One goroutine (Run) owns the
// pattern state and the lines; SetState and SelfTest only post requests.
type Player struct {
	leds    [2]led
	scheme  Scheme
	clk     clock.Clock
	log     *slog.Logger
	updates <-chan health.Snapshot

	want   atomic.Int64  // latest requested state
	wake   chan struct{} // one slot: want changed
	testCh chan struct{} // one slot: self-test requested

	// afterStep, if set (tests), is called by Run after each event it
	// handled, with the state it is now showing (or will show after a
	// self-test).
	afterStep func(health.State)
}

type led struct {
	name string
	line Line
	// Owned by Run:
	value  int // last written value, -1 before the first write
	errMsg string
}

// NewPlayer validates cfg and returns a Player showing StateBooting once Run starts.
func NewPlayer(cfg PlayerConfig) (*Player, error) {
	if cfg.Scheme == nil {
		cfg.Scheme = DefaultScheme()
	}
	if err := cfg.Scheme.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Player{
		leds:    [2]led{{name: LEDLink, line: cfg.Link, value: -1}, {name: LEDStatus, line: cfg.Status, value: -1}},
		scheme:  cfg.Scheme,
		clk:     cfg.Clock,
		log:     cfg.Logger.With("component", "leds"),
		updates: cfg.Updates,
		wake:    make(chan struct{}, 1),
		testCh:  make(chan struct{}, 1),
	}
	p.want.Store(int64(health.StateBooting))
	return p, nil
}

// SetState asks the player to show st. It never blocks; the latest wins.
func (p *Player) SetState(st health.State) {
	p.want.Store(int64(st))
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// SelfTest asks for the LED test (SelfTestDuration), after which the
// current state is shown again. It never blocks.
func (p *Player) SelfTest() {
	select {
	case p.testCh <- struct{}{}:
	default:
	}
}

// Run plays patterns until ctx ends, then darkens the LEDs and returns nil.
// LED write errors are logged (once per distinct error) and not fatal: a
// broken LED must not take the appliance down.
func (p *Player) Run(ctx context.Context) error {
	var (
		state     = health.State(p.want.Load())
		look      = p.scheme[state]
		start     = p.clk.Now()
		testing   bool
		testStart time.Time
		timer     *clock.Timer
		timerC    <-chan time.Time
	)
	stop := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
	}
	defer stop()

	// render shows the current look at now. The timer is re-armed before
	// the lines are written, so anyone who observes a write (the tests) can
	// rely on the next step being scheduled.
	render := func(force bool) {
		now := p.clk.Now()
		if testing && now.Sub(testStart) >= SelfTestDuration {
			testing = false
			look, start = p.scheme[state], now
			force = true
		}
		cur, since := look, now.Sub(start)
		if testing {
			cur, since = SelfTest, now.Sub(testStart)
		}
		var next time.Duration
		var values [2]bool
		for i, pat := range [2]Pattern{cur.Link, cur.Status} {
			on, d := pat.At(since)
			values[i] = on
			if d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
		if testing {
			if d := SelfTestDuration - since; next == 0 || d < next {
				next = d
			}
		}
		stop()
		if next > 0 {
			timer = p.clk.Timer(next)
			timerC = timer.C
		}
		for i := range p.leds {
			v := 0
			if values[i] {
				v = 1
			}
			p.write(&p.leds[i], v, force)
		}
	}

	render(true)
	p.step(state)
	updates := p.updates
	for {
		select {
		case <-ctx.Done():
			for i := range p.leds {
				p.write(&p.leds[i], 0, false)
			}
			return nil
		case <-timerC:
			render(false)
		case <-p.wake:
			if st := health.State(p.want.Load()); st != state {
				state = st
				if !testing {
					look, start = p.scheme[state], p.clk.Now()
					render(true)
				}
			}
		case snap, ok := <-updates:
			if !ok {
				updates = nil
				break
			}
			if snap.Overall != state {
				state = snap.Overall
				if !testing {
					look, start = p.scheme[state], p.clk.Now()
					render(true)
				}
			}
		case <-p.testCh:
			testing, testStart = true, p.clk.Now()
			render(true)
		}
		p.step(state)
	}
}

func (p *Player) step(st health.State) {
	if p.afterStep != nil {
		p.afterStep(st)
	}
}

// write sets one LED if it changed (or force). Called only from Run.
func (p *Player) write(l *led, v int, force bool) {
	if l.line == nil || (!force && l.value == v) {
		return
	}
	if err := l.line.SetValue(v); err != nil {
		if msg := err.Error(); msg != l.errMsg {
			l.errMsg = msg
			p.log.Warn("LED write failed", "led", l.name, "err", err)
		}
		return
	}
	if l.errMsg != "" {
		l.errMsg = ""
		p.log.Info("LED write recovered", "led", l.name)
	}
	l.value = v
}
