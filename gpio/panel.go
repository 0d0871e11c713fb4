package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/board"
)

// PanelConfig wires a board's front panel.
type PanelConfig struct {
	// Chip provides the lines: OpenChip(pins.Chip) on hardware, a FakeChip
	// on the sim board and in tests. The Panel closes it when Run ends.
	Chip Chip
	// Pins come from the board profile; unfitted pins are skipped.
	Pins board.GPIO
	// Clock, Logger: nil means real clock, slog.Default().
	Clock  clockwork.Clock
	Logger *slog.Logger
	// OnPress, OnHold, Debounce, Hold: see ButtonConfig. The button is
	// requested only if the pin is fitted.
	OnPress, OnHold func()
	Debounce, Hold  time.Duration
}

// Panel is the front panel: LED player plus optional button on one chip.
type Panel struct {
	*Player
	// Button is nil when the board has none.
	Button *Button
	chip   Chip
}

// NewPanel requests the lines and builds the player and button. The lines
// stay requested until Run returns (or Close, if Run is never called).
func NewPanel(cfg PanelConfig) (*Panel, error) {
	if cfg.Chip == nil {
		return nil, fmt.Errorf("gpio: panel: no chip")
	}
	pc := PlayerConfig{Clock: cfg.Clock, Logger: cfg.Logger}
	var err error
	if cfg.Pins.LinkLED.Fitted() {
		if pc.Link, err = cfg.Chip.Output(LEDLink, cfg.Pins.LinkLED); err != nil {
			return nil, errors.Join(err, cfg.Chip.Close())
		}
	}
	if cfg.Pins.StatusLED.Fitted() {
		if pc.Status, err = cfg.Chip.Output(LEDStatus, cfg.Pins.StatusLED); err != nil {
			return nil, errors.Join(err, cfg.Chip.Close())
		}
	}
	player, err := NewPlayer(pc)
	if err != nil {
		return nil, errors.Join(err, cfg.Chip.Close())
	}
	p := &Panel{Player: player, chip: cfg.Chip}
	if cfg.Pins.Button.Fitted() {
		b, err := NewButton(ButtonConfig{
			Clock: cfg.Clock, Logger: cfg.Logger,
			Debounce: cfg.Debounce, Hold: cfg.Hold,
			OnPress: cfg.OnPress, OnHold: cfg.OnHold,
		})
		if err != nil {
			return nil, errors.Join(err, cfg.Chip.Close())
		}
		level, err := cfg.Chip.Input(ButtonName, cfg.Pins.Button, b.Edge)
		if err != nil {
			return nil, errors.Join(err, cfg.Chip.Close())
		}
		// A button already held at power-up counts from now: holding it
		// through boot for Hold resets the password, as on most appliances.
		if level {
			b.Edge(true)
		}
		p.Button = b
	}
	return p, nil
}

// Run plays the LEDs and watches the button until ctx ends, then darkens
// the LEDs and releases every line.
func (p *Panel) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = p.Player.Run(ctx) }()
	if p.Button != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errs[1] = p.Button.Run(ctx) }()
	}
	wg.Wait()
	errs = append(errs, p.Close())
	return errors.Join(errs...)
}

// Close releases the lines. Run calls it; call it only if Run never ran.
func (p *Panel) Close() error {
	if err := p.chip.Close(); err != nil {
		return fmt.Errorf("gpio: release lines: %w", err)
	}
	return nil
}

// OpenBoardChip opens the chip a board profile names: board.SimChip gives a
// FakeChip drawn by term (which may be nil), "" gives (nil, nil) because the
// board has no front panel, and anything else is opened with OpenChip.
func OpenBoardChip(g board.GPIO, clk clockwork.Clock, term *Terminal) (Chip, error) {
	switch g.Chip {
	case "":
		return nil, nil
	case board.SimChip:
		if term == nil {
			return NewFakeChip(clk), nil
		}
		return NewSimChip(clk, term), nil
	}
	c, err := OpenChip(g.Chip, "tetherd")
	if err != nil {
		return nil, err
	}
	return c, nil
}
