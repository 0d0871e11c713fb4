package gpio

import (
	"io"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
)

// Color is an LED's colour, for rendering.
type Color int

const (
	Green Color = iota
	Red
	Amber
)

func (c Color) String() string {
	switch c {
	case Green:
		return "green"
	case Red:
		return "red"
	case Amber:
		return "amber"
	}
	return "unknown"
}

// ansi SGR foreground colours (ECMA-48 §8.3.117).
func (c Color) ansi() string {
	switch c {
	case Red:
		return "\x1b[31m"
	case Amber:
		return "\x1b[33m"
	}
	return "\x1b[32m"
}

// LEDView is one LED as the console and setup page show it.
type LEDView struct {
	Name  string `json:"name"`
	Color Color  `json:"-"`
	// ColorName is Color.String(), for the setup page's JSON.
	ColorName string `json:"color"`
	On        bool   `json:"on"`
}

// Render draws LEDs as one line, e.g. "LED link ● status ○". With ansi
// set, a lit LED is drawn in its colour and a dark one dimmed.
func Render(leds []LEDView, ansi bool) string {
	var b strings.Builder
	b.WriteString("LED")
	for _, l := range leds {
		b.WriteByte(' ')
		b.WriteString(l.Name)
		b.WriteByte(' ')
		glyph := "○"
		if l.On {
			glyph = "●"
		}
		switch {
		case !ansi:
			b.WriteString(glyph)
		case l.On:
			b.WriteString(l.Color.ansi() + glyph + "\x1b[0m")
		default:
			b.WriteString("\x1b[2m" + glyph + "\x1b[0m")
		}
	}
	return b.String()
}

// Terminal renders the sim board's LEDs. Hook it to a FakeChip with
// chip.Watch(term.Set); with a writer it redraws one line in place on every
// change (carriage return, erase line), otherwise the console reads String
// and the setup page LEDs. Safe for concurrent use.
type Terminal struct {
	mu   sync.Mutex
	w    io.Writer
	ansi bool
	leds []LEDView
}

// NewTerminal returns a renderer for the link (green) and status (red)
// LEDs, both dark. w may be nil.
func NewTerminal(w io.Writer, ansi bool) *Terminal {
	return &Terminal{w: w, ansi: ansi, leds: []LEDView{
		{Name: LEDLink, Color: Green, ColorName: Green.String()},
		{Name: LEDStatus, Color: Red, ColorName: Red.String()},
	}}
}

// Set updates one LED (value != 0 is lit) and redraws. Unknown names are
// added at the end in amber.
func (t *Terminal) Set(name string, value int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	for ; i < len(t.leds); i++ {
		if t.leds[i].Name == name {
			break
		}
	}
	if i == len(t.leds) {
		t.leds = append(t.leds, LEDView{Name: name, Color: Amber, ColorName: Amber.String()})
	}
	t.leds[i].On = value != 0
	if t.w != nil {
		line := Render(t.leds, t.ansi)
		if t.ansi {
			_, _ = io.WriteString(t.w, "\r"+line+"\x1b[K")
		} else {
			_, _ = io.WriteString(t.w, line+"\n")
		}
	}
}

// LEDs returns the current LED states.
func (t *Terminal) LEDs() []LEDView {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]LEDView(nil), t.leds...)
}

// String renders the LEDs without colour.
func (t *Terminal) String() string { return Render(t.LEDs(), false) }

// NewSimChip returns the sim board's chip: a FakeChip whose LED changes are
// drawn by term.
func NewSimChip(clk clockwork.Clock, term *Terminal) *FakeChip {
	c := NewFakeChip(clk)
	c.Watch(term.Set)
	return c
}
