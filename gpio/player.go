package gpio

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
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
	// Clock drives the blinking; nil means the real clock.
	Clock clockwork.Clock
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Player shows one Look at a time on the LEDs. One goroutine (Run) owns the
// pattern state and the lines; SetLook and SelfTest only post requests.
// What a look means is its caller's business: the player knows patterns,
// not the appliance's states (issue 13).
type Player struct {
	leds [2]led
	clk  clockwork.Clock
	log  *slog.Logger

	mu     sync.Mutex    // guards want
	want   Look          // latest requested look
	wake   chan struct{} // one slot: want changed
	testCh chan struct{} // one slot: self-test requested

	// afterStep, if set (tests), is called by Run after each event it
	// handled, with the look it is now showing (or will show after a
	// self-test).
	afterStep func(Look)
}

type led struct {
	name string
	line Line
	// Owned by Run:
	value  int // last written value, -1 before the first write
	errMsg string
}

// NewPlayer returns a Player showing PowerOn once Run starts.
func NewPlayer(cfg PlayerConfig) (*Player, error) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Player{
		leds:   [2]led{{name: LEDLink, line: cfg.Link, value: -1}, {name: LEDStatus, line: cfg.Status, value: -1}},
		clk:    cfg.Clock,
		log:    cfg.Logger.With("component", "leds"),
		want:   PowerOn,
		wake:   make(chan struct{}, 1),
		testCh: make(chan struct{}, 1),
	}, nil
}

// SetLook asks the player to show l. It never blocks; the latest wins.
func (p *Player) SetLook(l Look) {
	p.mu.Lock()
	p.want = l
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Player) wanted() Look {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.want
}

// SelfTest asks for the LED test (SelfTestDuration), after which the
// current look is shown again. It never blocks.
func (p *Player) SelfTest() {
	select {
	case p.testCh <- struct{}{}:
	default:
	}
}

// playing is Run's state: the look asked for, when it started, the
// self-test if one runs, and the timer of the next step boundary.
type playing struct {
	look      Look
	start     time.Time
	testing   bool
	testStart time.Time
	timer     clockwork.Timer
	timerC    <-chan time.Time
}

func (s *playing) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer, s.timerC = nil, nil
	}
}

// Run plays patterns until ctx ends, then darkens the LEDs and returns nil.
// LED write errors are logged (once per distinct error) and not fatal: a
// broken LED must not take the appliance down.
func (p *Player) Run(ctx context.Context) error {
	s := &playing{look: p.wanted(), start: p.clk.Now()}
	defer s.stopTimer()
	p.render(s, true)
	p.step(s.look)
	for {
		select {
		case <-ctx.Done():
			p.darken()
			return nil
		case <-s.timerC:
			p.render(s, false)
		case <-p.wake:
			p.show(s, p.wanted())
		case <-p.testCh:
			s.testing, s.testStart = true, p.clk.Now()
			p.render(s, true)
		}
		p.step(s.look)
	}
}

// show switches to look l from now, unless the self-test runs (it shows
// l when it ends).
func (p *Player) show(s *playing, l Look) {
	if l.Equal(s.look) {
		return
	}
	s.look = l
	if !s.testing {
		s.start = p.clk.Now()
		p.render(s, true)
	}
}

// render shows the current look (or the self-test) at now. The timer is
// re-armed before the lines are written, so anyone who observes a write
// (the tests) can rely on the next step being scheduled.
func (p *Player) render(s *playing, force bool) {
	now := p.clk.Now()
	if s.testing && now.Sub(s.testStart) >= SelfTestDuration {
		s.testing = false
		s.start = now
		force = true
	}
	cur, since := s.look, now.Sub(s.start)
	if s.testing {
		cur, since = SelfTest, now.Sub(s.testStart)
	}
	values, next := cur.at(since)
	if s.testing {
		if d := SelfTestDuration - since; next == 0 || d < next {
			next = d
		}
	}
	s.stopTimer()
	if next > 0 {
		s.timer = p.clk.NewTimer(next)
		s.timerC = s.timer.Chan()
	}
	for i := range p.leds {
		v := 0
		if values[i] {
			v = 1
		}
		p.write(&p.leds[i], v, force)
	}
}

// at is both LEDs' values at elapsed time into the look, and the time to
// the nearer of their next step boundaries (0: neither changes again).
func (l Look) at(elapsed time.Duration) (values [2]bool, next time.Duration) {
	for i, pat := range [2]Pattern{l.Link, l.Status} {
		on, d := pat.At(elapsed)
		values[i] = on
		if d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return values, next
}

// darken turns both LEDs off when Run ends.
func (p *Player) darken() {
	for i := range p.leds {
		p.write(&p.leds[i], 0, false)
	}
}

func (p *Player) step(l Look) {
	if p.afterStep != nil {
		p.afterStep(l)
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
