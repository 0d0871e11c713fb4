package gpio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/board"
)

func simPins(t *testing.T) board.GPIO {
	t.Helper()
	p, err := board.Lookup(board.NameSim)
	if err != nil {
		t.Fatal(err)
	}
	return p.GPIO
}

// The sim board end to end: panel on a FakeChip rendered by Terminal, LEDs
// following the state, the button's press reaching the callback, and every
// line released when Run ends.
func TestPanelSim(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	term := NewTerminal(nil, false)
	chip := NewSimChip(clk, term)
	pressed := make(chan struct{}, 1)
	panel, err := NewPanel(PanelConfig{
		Chip: chip, Pins: simPins(t), Clock: clk, Logger: quiet,
		OnPress: func() { pressed <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if panel.Button == nil {
		t.Fatal("sim board has a button")
	}
	psteps := newStepper[Look]()
	bsteps := newStepper[struct{}]()
	panel.Player.afterStep = psteps.hook
	panel.Button.afterStep = func() { bsteps.hook(struct{}{}) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- panel.Run(ctx) }()
	psteps.wait(t)
	bsteps.wait(t)
	if got := term.String(); got != "LED link ● status ●" {
		t.Fatalf("booting render %q", got)
	}
	panel.SetLook(Look{Link: Off, Status: Solid})
	psteps.wait(t)
	if got := term.String(); got != "LED link ○ status ●" {
		t.Fatalf("fault render %q", got)
	}

	chip.SetInput(ButtonName, true)
	bsteps.wait(t)
	clk.Advance(DefaultDebounce)
	bsteps.wait(t)
	chip.SetInput(ButtonName, false)
	bsteps.wait(t)
	clk.Advance(DefaultDebounce)
	bsteps.wait(t)
	select {
	case <-pressed:
	default:
		t.Fatal("press did not reach OnPress")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !chip.Closed() {
		t.Fatal("lines not released")
	}
	if got := term.String(); got != "LED link ○ status ○" {
		t.Fatalf("after stop %q", got)
	}
}

func TestPanelNoButtonNoLEDs(t *testing.T) {
	generic, _ := board.Lookup(board.NameGeneric)
	chip := NewFakeChip(clockwork.NewFakeClockAt(time.Unix(0, 0)))
	panel, err := NewPanel(PanelConfig{Chip: chip, Pins: generic.GPIO, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if panel.Button != nil {
		t.Fatal("generic board has no button")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := panel.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

type failingChip struct{ *FakeChip }

func (failingChip) Output(string, board.Pin) (Line, error) { return nil, errors.New("EBUSY") }

func TestPanelRequestFailureReleases(t *testing.T) {
	chip := failingChip{NewFakeChip(nil)}
	_, err := NewPanel(PanelConfig{Chip: chip, Pins: simPins(t), Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "EBUSY") {
		t.Fatalf("err = %v", err)
	}
	if !chip.Closed() {
		t.Fatal("chip not closed after a failed request")
	}
	if _, err := NewPanel(PanelConfig{Pins: simPins(t)}); err == nil {
		t.Fatal("nil chip accepted")
	}
}

func TestPanelButtonHeldAtBoot(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	chip := NewFakeChip(clk)
	chip.SetInput(ButtonName, true) // held while powering up
	holds := make(chan struct{}, 1)
	panel, err := NewPanel(PanelConfig{Chip: chip, Pins: simPins(t), Clock: clk, Logger: quiet,
		OnHold: func() { holds <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	bsteps := newStepper[struct{}]()
	panel.Button.afterStep = func() { bsteps.hook(struct{}{}) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- panel.Run(ctx) }()
	bsteps.wait(t) // start
	bsteps.wait(t) // the pending edge from NewPanel
	clk.Advance(DefaultDebounce)
	bsteps.wait(t)
	clk.Advance(DefaultHold - DefaultDebounce)
	bsteps.wait(t)
	select {
	case <-holds:
	case <-time.After(5 * time.Second):
		t.Fatal("hold through boot not recognised")
	}
	cancel()
	<-done
}

func TestOpenBoardChip(t *testing.T) {
	generic, _ := board.Lookup(board.NameGeneric)
	if c, err := OpenBoardChip(generic.GPIO, nil, nil); c != nil || err != nil {
		t.Fatalf("generic: %v, %v; want no chip", c, err)
	}
	term := NewTerminal(nil, false)
	c, err := OpenBoardChip(simPins(t), clockwork.NewFakeClockAt(time.Unix(0, 0)), term)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Output(LEDStatus, simPins(t).StatusLED)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetValue(1); err != nil {
		t.Fatal(err)
	}
	if term.String() != "LED link ○ status ●" {
		t.Fatalf("sim chip not drawn: %q", term.String())
	}
	_ = c.Close()
	// A chip that does not exist here: a clear error, not a panic.
	_, err = OpenBoardChip(board.GPIO{Chip: "no-such-chip-label"}, nil, nil)
	if !errors.Is(err, ErrNoChip) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrNoChip or ErrUnsupported", err)
	}
}
