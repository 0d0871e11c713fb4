//go:build !linux

package gpio

import (
	"fmt"

	"tether/board"
)

// CdevChip is only available on Linux; elsewhere OpenChip fails.
type CdevChip struct{}

// OpenChip fails with ErrUnsupported outside Linux.
func OpenChip(nameOrLabel, consumer string) (*CdevChip, error) {
	return nil, fmt.Errorf("gpio: open %s: %w", nameOrLabel, ErrUnsupported)
}

// Name is empty outside Linux.
func (c *CdevChip) Name() string { return "" }

// Label is empty outside Linux.
func (c *CdevChip) Label() string { return "" }

// Output fails with ErrUnsupported.
func (c *CdevChip) Output(name string, pin board.Pin) (Line, error) {
	return nil, ErrUnsupported
}

// Input fails with ErrUnsupported.
func (c *CdevChip) Input(name string, pin board.Pin, onEdge func(active bool)) (bool, error) {
	return false, ErrUnsupported
}

// Close does nothing.
func (c *CdevChip) Close() error { return nil }
