package gpio

import (
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/board"
)

// Write is one SetValue call recorded by FakeChip.
type Write struct {
	At    time.Time
	Value int
}

// FakeChip is an in-memory Chip: it records every output write with the
// clock's time, lets tests drive inputs, and can notify a watcher (the sim
// board's Terminal) of every change. Safe for concurrent use.
type FakeChip struct {
	clk clockwork.Clock

	mu      sync.Mutex
	closed  bool
	outputs map[string]*fakeOutput
	inputs  map[string]*fakeInput
	watch   func(name string, value int)
	// FailWrites, when non-nil, is returned by every SetValue (tests).
	failWrites error
}

type fakeOutput struct {
	chip   *FakeChip
	name   string
	pin    board.Pin
	writes []Write
}

type fakeInput struct {
	pin    board.Pin
	active bool
	onEdge func(bool)
}

// NewFakeChip returns an empty fake chip timestamping with clk (nil: real clock).
func NewFakeChip(clk clockwork.Clock) *FakeChip {
	if clk == nil {
		clk = clockwork.NewRealClock()
	}
	return &FakeChip{clk: clk, outputs: map[string]*fakeOutput{}, inputs: map[string]*fakeInput{}}
}

// Watch sets fn to be called after every output write that changes a value
// (outside the chip's lock). Use it to render the sim board's LEDs.
func (c *FakeChip) Watch(fn func(name string, value int)) {
	c.mu.Lock()
	c.watch = fn
	c.mu.Unlock()
}

// FailWrites makes every later SetValue return err (nil to heal).
func (c *FakeChip) FailWrites(err error) {
	c.mu.Lock()
	c.failWrites = err
	c.mu.Unlock()
}

// Output implements Chip.
func (c *FakeChip) Output(name string, pin board.Pin) (Line, error) {
	if !pin.Fitted() {
		return nil, fmt.Errorf("gpio: fake output %s: %w", name, ErrNotFitted)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("gpio: fake output %s: %w", name, ErrClosed)
	}
	o := &fakeOutput{chip: c, name: name, pin: pin}
	c.outputs[name] = o
	return o, nil
}

// Input implements Chip.
func (c *FakeChip) Input(name string, pin board.Pin, onEdge func(active bool)) (bool, error) {
	if !pin.Fitted() {
		return false, fmt.Errorf("gpio: fake input %s: %w", name, ErrNotFitted)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, fmt.Errorf("gpio: fake input %s: %w", name, ErrClosed)
	}
	in := c.inputs[name]
	if in == nil {
		in = &fakeInput{}
		c.inputs[name] = in
	}
	in.pin, in.onEdge = pin, onEdge
	return in.active, nil
}

// SetInput drives an input's logical level (true = pressed), calling the
// edge handler synchronously when the level changes. Setting a level before
// Input is requested sets its initial level.
func (c *FakeChip) SetInput(name string, active bool) {
	c.mu.Lock()
	in := c.inputs[name]
	if in == nil {
		in = &fakeInput{}
		c.inputs[name] = in
	}
	changed := in.active != active
	in.active = active
	fn := in.onEdge
	closed := c.closed
	c.mu.Unlock()
	if changed && fn != nil && !closed {
		fn(active)
	}
}

// Close implements Chip: outputs are darkened and further use fails.
func (c *FakeChip) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	var outs []*fakeOutput
	for _, o := range c.outputs {
		outs = append(outs, o)
	}
	c.mu.Unlock()
	for _, o := range outs {
		_ = o.SetValue(0)
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// Closed reports whether Close was called.
func (c *FakeChip) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Value returns an output's last written value (-1: never written or unknown).
func (c *FakeChip) Value(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.outputs[name]
	if o == nil || len(o.writes) == 0 {
		return -1
	}
	return o.writes[len(o.writes)-1].Value
}

// Writes returns every SetValue on the named output, in order.
func (c *FakeChip) Writes(name string) []Write {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.outputs[name]
	if o == nil {
		return nil
	}
	return append([]Write(nil), o.writes...)
}

// Changes returns the writes that changed the value (the first write counts).
func (c *FakeChip) Changes(name string) []Write {
	var out []Write
	for _, w := range c.Writes(name) {
		if len(out) == 0 || out[len(out)-1].Value != w.Value {
			out = append(out, w)
		}
	}
	return out
}

// SetValue records the write (Line).
func (o *fakeOutput) SetValue(v int) error {
	c := o.chip
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("gpio: fake %s: %w", o.name, ErrClosed)
	}
	if c.failWrites != nil {
		err := c.failWrites
		c.mu.Unlock()
		return err
	}
	changed := len(o.writes) == 0 || o.writes[len(o.writes)-1].Value != v
	o.writes = append(o.writes, Write{At: c.clk.Now(), Value: v})
	fn := c.watch
	c.mu.Unlock()
	if changed && fn != nil {
		fn(o.name, v)
	}
	return nil
}
