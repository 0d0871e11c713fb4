//go:build !linux

package console

import (
	"fmt"
	"io"
	"os"
)

// Baud is the serial console's line speed; the line is 8N1 (docs/leds.md).
const Baud = 115200

// OpenSerial opens the console's tty as it is: line settings are set only
// on Linux.
func OpenSerial(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("console: open %s: %w", path, err)
	}
	return f, nil
}

// Pollable returns r as it is.
func Pollable(r io.Reader) io.Reader { return r }
