//go:build linux

package console

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Baud is the serial console's line speed; the line is 8N1 (docs/leds.md).
const Baud = 115200

// OpenSerial opens the console's tty for reading and writing, without
// making it the controlling terminal, and sets 115200 8N1 with the
// receiver on and modem lines ignored (termios(3)). Line discipline (echo,
// line editing) is left as the kernel or getty set it. A file that is not a
// tty (a pipe, a test's regular file) is opened as it is.
func OpenSerial(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("console: open %s: %w", path, err)
	}
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return f, nil // not a tty
	}
	t.Cflag &^= unix.CBAUD | unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS
	t.Cflag |= unix.B115200 | unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Ispeed, t.Ospeed = unix.B115200, unix.B115200
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("console: %s: set %d 8N1: %w", path, Baud, err)
	}
	return f, nil
}

// Pollable returns f switched to non-blocking mode and registered with the
// runtime's poller, so Run can end a pending read with a deadline. A
// blocking stdin (a pipe or terminal given with -console -) otherwise keeps
// its reader, and the process, waiting for a line that may never come.
// Anything else is returned as it is.
func Pollable(r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	fd := f.Fd()
	if err := unix.SetNonblock(int(fd), true); err != nil {
		return r
	}
	return os.NewFile(fd, f.Name())
}
