//go:build linux

package gpio

import (
	"errors"
	"fmt"
	"sync"

	"github.com/warthog618/go-gpiocdev"

	"tether/board"
)

// CdevChip is a Chip on the Linux GPIO character device (uAPI v2 through
// go-gpiocdev). It owns every line it hands out and releases them on Close.
type CdevChip struct {
	chip *gpiocdev.Chip

	mu      sync.Mutex // guards outputs, inputs, closed
	outputs []*gpiocdev.Line
	inputs  []*gpiocdev.Line
	closed  bool
}

// OpenChip opens a chip by device name ("gpiochip0") or, failing that, by
// label ("pinctrl-rp1"): the Pi 5's RP1 header chip moved from gpiochip4 to
// gpiochip0 between kernel releases, and the label is stable.
// consumer labels the requested lines (gpioinfo shows it).
func OpenChip(nameOrLabel, consumer string) (*CdevChip, error) {
	if consumer == "" {
		consumer = "tetherd"
	}
	if gpiocdev.IsChip(nameOrLabel) == nil {
		c, err := gpiocdev.NewChip(nameOrLabel, gpiocdev.WithConsumer(consumer))
		if err != nil {
			return nil, fmt.Errorf("gpio: open %s: %w", nameOrLabel, err)
		}
		return &CdevChip{chip: c}, nil
	}
	for _, name := range gpiocdev.Chips() {
		c, err := gpiocdev.NewChip(name, gpiocdev.WithConsumer(consumer))
		if err != nil {
			continue
		}
		if c.Label == nameOrLabel {
			return &CdevChip{chip: c}, nil
		}
		_ = c.Close()
	}
	return nil, fmt.Errorf("gpio: open %q: %w (chips: %v)", nameOrLabel, ErrNoChip, gpiocdev.Chips())
}

// Name returns the chip's device name ("gpiochip0").
func (c *CdevChip) Name() string { return c.chip.Name }

// Label returns the chip's label ("pinctrl-bcm2711").
func (c *CdevChip) Label() string { return c.chip.Label }

func levelOpts(pin board.Pin) []gpiocdev.LineReqOption {
	var opts []gpiocdev.LineReqOption
	if pin.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	return opts
}

// Output implements Chip: the line is requested as an output, inactive.
func (c *CdevChip) Output(name string, pin board.Pin) (Line, error) {
	if !pin.Fitted() {
		return nil, fmt.Errorf("gpio: %s: %w", name, ErrNotFitted)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("gpio: %s: %w", name, ErrClosed)
	}
	opts := append(levelOpts(pin), gpiocdev.AsOutput(0))
	l, err := c.chip.RequestLine(pin.Offset, opts...)
	if err != nil {
		return nil, fmt.Errorf("gpio: request %s (%s offset %d): %w", name, c.chip.Name, pin.Offset, err)
	}
	c.outputs = append(c.outputs, l)
	return l, nil
}

// Input implements Chip: both edges, pull-up if the pin asks for it.
// gpiolib-cdev reports edges on the logical level (active-low applied), so
// a rising edge is always "became active".
func (c *CdevChip) Input(name string, pin board.Pin, onEdge func(active bool)) (bool, error) {
	if !pin.Fitted() {
		return false, fmt.Errorf("gpio: %s: %w", name, ErrNotFitted)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, fmt.Errorf("gpio: %s: %w", name, ErrClosed)
	}
	opts := append(levelOpts(pin), gpiocdev.AsInput, gpiocdev.WithBothEdges,
		gpiocdev.WithEventHandler(func(evt gpiocdev.LineEvent) {
			onEdge(evt.Type == gpiocdev.LineEventRisingEdge)
		}))
	if pin.PullUp {
		opts = append(opts, gpiocdev.WithPullUp)
	}
	l, err := c.chip.RequestLine(pin.Offset, opts...)
	if err != nil {
		return false, fmt.Errorf("gpio: request %s (%s offset %d): %w", name, c.chip.Name, pin.Offset, err)
	}
	c.inputs = append(c.inputs, l)
	v, err := l.Value()
	if err != nil {
		return false, fmt.Errorf("gpio: read %s: %w", name, err)
	}
	return v == 1, nil
}

// Close darkens the outputs and releases every line and the chip.
func (c *CdevChip) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, l := range c.outputs {
		_ = l.SetValue(0)
		errs = append(errs, l.Close())
	}
	for _, l := range c.inputs {
		errs = append(errs, l.Close())
	}
	errs = append(errs, c.chip.Close())
	return errors.Join(errs...)
}
