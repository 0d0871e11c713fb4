package gpio

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/board"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stepper collects afterStep calls so tests know the goroutine under test
// has finished handling an event before they move the mock clock again.
type stepper[T any] chan T

func newStepper[T any]() stepper[T] { return make(stepper[T], 4096) }

func (s stepper[T]) hook(v T) { s <- v }

func (s stepper[T]) wait(t *testing.T) T {
	t.Helper()
	select {
	case v := <-s:
		return v
	case <-time.After(5 * time.Second): // a bound, not a behaviour wait
		t.Fatal("goroutine did not handle the event")
	}
	var zero T
	return zero
}

func (s stepper[T]) none(t *testing.T) {
	t.Helper()
	select {
	case <-s:
		t.Fatal("unexpected event handled")
	default:
	}
}

type playerRig struct {
	clk    *clockwork.FakeClock
	chip   *FakeChip
	p      *Player
	steps  stepper[Look]
	cancel context.CancelFunc
	done   chan error
}

func newPlayerRig(t *testing.T) *playerRig {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	chip := NewFakeChip(clk)
	link, err := chip.Output(LEDLink, board.Pin{Offset: 0})
	if err != nil {
		t.Fatal(err)
	}
	status, err := chip.Output(LEDStatus, board.Pin{Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(PlayerConfig{Link: link, Status: status, Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &playerRig{clk: clk, chip: chip, p: p, steps: newStepper[Look](), done: make(chan error, 1)}
	p.afterStep = r.steps.hook
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- p.Run(ctx) }()
	r.steps.wait(t) // initial render
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *playerRig) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// expected walks a pattern's steps independently of Pattern.At and returns
// the value changes (relative times) up to horizon, the first at 0, plus
// every step boundary (which is where the player's timer fires).
func expected(p Pattern, horizon time.Duration) (changes []Write, boundaries []time.Duration) {
	t0 := time.Time{}
	var at time.Duration
	last := -1
	for i := 0; at <= horizon; i++ {
		if i == len(p.Steps) {
			if p.Once {
				break
			}
			i = 0
		}
		s := p.Steps[i]
		v := 0
		if s.On {
			v = 1
		}
		if v != last {
			changes = append(changes, Write{At: t0.Add(at), Value: v})
			last = v
		}
		if s.Dur <= 0 {
			break
		}
		at += s.Dur
		if at <= horizon {
			boundaries = append(boundaries, at)
		}
	}
	return changes, boundaries
}

// mark is where a test phase starts: its time and how many writes each LED
// had before it.
type mark struct {
	at time.Time
	n  map[string]int
}

func (r *playerRig) mark() mark {
	return mark{at: r.clk.Now(), n: map[string]int{LEDLink: len(r.chip.Writes(LEDLink)), LEDStatus: len(r.chip.Writes(LEDStatus))}}
}

// rel returns the value changes of one LED since m, times relative to m.
func (r *playerRig) rel(name string, m mark) []Write {
	return relChanges(r.chip.Writes(name)[m.n[name]:], m.at)
}

// relChanges reduces writes to value changes with times relative to from.
// Writes at the same instant collapse to the last one: a value shown for
// zero time is invisible (a state passed through without the clock moving).
func relChanges(ws []Write, from time.Time) []Write {
	var out []Write
	for _, w := range ws {
		rw := Write{At: time.Time{}.Add(w.At.Sub(from)), Value: w.Value}
		if n := len(out); n > 0 && out[n-1].At.Equal(rw.At) {
			out = out[:n-1]
		}
		if n := len(out); n > 0 && out[n-1].Value == rw.Value {
			continue
		}
		out = append(out, rw)
	}
	return out
}

func equalWrites(a, b []Write) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].At.Equal(b[i].At) || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// play steps the clock through every step boundary of look up to horizon,
// waiting for the player after each.
func (r *playerRig) play(t *testing.T, look Look, horizon time.Duration) {
	t.Helper()
	_, bl := expected(look.Link, horizon)
	_, bs := expected(look.Status, horizon)
	set := map[time.Duration]bool{}
	for _, b := range append(bl, bs...) {
		set[b] = true
	}
	var bounds []time.Duration
	for b := range set {
		bounds = append(bounds, b)
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	var at time.Duration
	for _, b := range bounds {
		r.clk.Advance(b - at)
		at = b
		r.steps.wait(t)
	}
	r.clk.Advance(horizon - at)
	r.steps.none(t)
}

func (r *playerRig) check(t *testing.T, look Look, from mark, horizon time.Duration) {
	t.Helper()
	for _, c := range []struct {
		name string
		p    Pattern
	}{{LEDLink, look.Link}, {LEDStatus, look.Status}} {
		want, _ := expected(c.p, horizon)
		got := r.rel(c.name, from)
		if !equalWrites(got, want) {
			t.Errorf("%s (%s):\n got  %v\n want %v", c.name, c.p.Name, got, want)
		}
	}
}

// testLooks pairs every pattern with others, as docs/leds.md does
// (appliance/leds.go holds the appliance's own table).
var testLooks = []Look{
	{Link: Solid, Status: Solid}, {Link: Off, Status: SlowBlink}, {Link: FastBlink, Status: Off},
	{Link: Off, Status: DoubleBlink}, {Link: Solid, Status: Off}, {Link: Heartbeat, Status: Off},
	{Link: Solid, Status: SlowBlink}, {Link: FastBlink, Status: FastBlinkB}, {Link: Off, Status: Solid},
	{Link: SlowBlink, Status: Flashes(1)}, {Link: SlowBlink, Status: Flashes(2)}, {Link: SlowBlink, Status: Flashes(3)},
}

// Every look, played for 3 s on the mock clock, produces exactly the
// pattern's transitions at exactly the pattern's times.
func TestPlayerTimeline(t *testing.T) {
	r := newPlayerRig(t)
	if r.chip.Value(LEDLink) != 1 || r.chip.Value(LEDStatus) != 1 {
		t.Fatalf("power-on look not shown: link %d status %d", r.chip.Value(LEDLink), r.chip.Value(LEDStatus))
	}
	const horizon = 3 * time.Second
	for _, look := range testLooks[1:] { // [0] is PowerOn, already shown
		t.Run(look.Link.Name+"+"+look.Status.Name, func(t *testing.T) {
			from := r.mark()
			r.p.SetLook(look)
			r.steps.wait(t)
			r.play(t, look, horizon)
			r.check(t, look, from, horizon)
		})
	}
}

// Asking again for the look already shown does not restart its pattern.
func TestPlayerSameLookKeepsPhase(t *testing.T) {
	r := newPlayerRig(t)
	look := Look{Link: Heartbeat, Status: Off}
	r.p.SetLook(look)
	r.steps.wait(t)
	from := r.mark()
	r.clk.Advance(100 * ms) // link goes dark at 100 ms
	r.steps.wait(t)
	r.p.SetLook(Look{Link: Heartbeat, Status: Off})
	r.steps.wait(t)
	if got := r.rel(LEDLink, from); len(got) != 1 || got[0].Value != 0 {
		t.Fatalf("link after the same look again: %v, want one write (dark at 100 ms)", got)
	}
}

// The heartbeat written out by hand, as a field tech would time it.
func TestPlayerHeartbeatByHand(t *testing.T) {
	r := newPlayerRig(t)
	from := r.mark()
	r.p.SetLook(Look{Link: Heartbeat, Status: Off})
	r.steps.wait(t)
	r.play(t, Look{Link: Heartbeat, Status: Off}, 2500*ms)
	want := []struct {
		at time.Duration
		v  int
	}{{0, 1}, {100 * ms, 0}, {250 * ms, 1}, {350 * ms, 0}, {1200 * ms, 1}, {1300 * ms, 0}, {1450 * ms, 1}, {1550 * ms, 0}, {2400 * ms, 1}, {2500 * ms, 0}}
	got := r.rel(LEDLink, from)
	if len(got) != len(want) {
		t.Fatalf("got %d changes %v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].At.Sub(time.Time{}) != w.at || got[i].Value != w.v {
			t.Errorf("change %d: %v=%d, want %v=%d", i, got[i].At.Sub(time.Time{}), got[i].Value, w.at, w.v)
		}
	}
	if c := r.rel(LEDStatus, from); len(c) != 1 || c[0].Value != 0 {
		t.Errorf("status in call: %v, want dark", c)
	}
}

func TestPlayerSelfTest(t *testing.T) {
	r := newPlayerRig(t)
	r.p.SetLook(Look{Link: Solid, Status: Off})
	r.steps.wait(t)
	r.clk.Advance(300 * ms) // steady look: no timer
	r.steps.none(t)

	from := r.mark()
	r.p.SelfTest()
	r.steps.wait(t)
	// A look asked for during the test is held until the test ends.
	r.p.SetLook(Look{Link: Off, Status: Solid})
	r.steps.wait(t)
	for i := 0; i < 4; i++ { // boundaries at 1, 2, 3 s and the end at 4 s
		r.clk.Advance(time.Second)
		r.steps.wait(t)
	}
	r.steps.none(t)
	want := map[string][]Write{
		LEDLink:   {{At: time.Time{}, Value: 1}, {At: time.Time{}.Add(time.Second), Value: 0}, {At: time.Time{}.Add(2 * time.Second), Value: 1}, {At: time.Time{}.Add(3 * time.Second), Value: 0}},
		LEDStatus: {{At: time.Time{}, Value: 0}, {At: time.Time{}.Add(time.Second), Value: 1}, {At: time.Time{}.Add(3 * time.Second), Value: 0}, {At: time.Time{}.Add(4 * time.Second), Value: 1}},
	}
	for name, w := range want {
		if got := r.rel(name, from); !equalWrites(got, w) {
			t.Errorf("%s:\n got  %v\n want %v", name, got, w)
		}
	}
	// After the test: the fault look (link off, status solid).
	if r.chip.Value(LEDLink) != 0 || r.chip.Value(LEDStatus) != 1 {
		t.Fatalf("after self-test: link %d status %d, want fault look", r.chip.Value(LEDLink), r.chip.Value(LEDStatus))
	}
}

func TestPlayerStopDarkens(t *testing.T) {
	r := newPlayerRig(t)
	r.p.SetLook(Look{Link: Off, Status: Solid})
	r.steps.wait(t)
	if r.chip.Value(LEDStatus) != 1 {
		t.Fatal("fault not shown")
	}
	r.stop(t)
	if r.chip.Value(LEDLink) != 0 || r.chip.Value(LEDStatus) != 0 {
		t.Fatal("LEDs left lit after Run returned")
	}
}

func TestPlayerWriteErrorsNotFatal(t *testing.T) {
	r := newPlayerRig(t)
	r.chip.FailWrites(errors.New("EIO"))
	r.p.SetLook(Look{Link: FastBlink, Status: Off})
	r.steps.wait(t)
	r.clk.Advance(125 * ms)
	r.steps.wait(t)
	r.chip.FailWrites(nil)
	r.clk.Advance(125 * ms) // link on again; written now the line heals
	r.steps.wait(t)
	if r.chip.Value(LEDLink) != 1 {
		t.Fatalf("link %d after recovery, want 1", r.chip.Value(LEDLink))
	}
}

func TestPlayerUnfittedLEDs(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	p, err := NewPlayer(PlayerConfig{Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	steps := newStepper[Look]()
	p.afterStep = steps.hook
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	steps.wait(t)
	p.SetLook(Look{Link: FastBlink, Status: FastBlinkB})
	steps.wait(t)
	clk.Advance(125 * ms)
	steps.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkPatternAt(b *testing.B) {
	b.ReportAllocs()
	var n int
	for i := 0; i < b.N; i++ {
		if on, _ := Heartbeat.At(time.Duration(i) * ms); on {
			n++
		}
	}
	_ = n
}
