package gpio

import "tether/board"

// Names of the front-panel lines, used by Chip implementations (consumer
// labels, the terminal renderer) and FakeChip lookups.
const (
	LEDLink    = "link"
	LEDStatus  = "status"
	ButtonName = "button"
)

// Chip hands out the front panel's lines and releases them all on Close.
// CdevChip (Linux), FakeChip (tests, sim board) implement it.
type Chip interface {
	// Output requests pin as an output, initially off.
	Output(name string, pin board.Pin) (Line, error)
	// Input requests pin as an input with edge events; onEdge is called
	// with the new logical level (true = active/pressed) from the chip's
	// event goroutine and must not block. It returns the current level.
	Input(name string, pin board.Pin, onEdge func(active bool)) (active bool, err error)
	// Close releases every line (outputs are darkened first).
	Close() error
}

var (
	_ Chip = (*CdevChip)(nil)
	_ Chip = (*FakeChip)(nil)
)
