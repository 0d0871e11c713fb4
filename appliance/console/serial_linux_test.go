//go:build linux

package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tether/appliance/health"
)

// TestOpenSerialSets115200_8N1 opens a pseudo-terminal's slave side as the
// console would open /dev/serial0 and reads the line settings back.
func TestOpenSerialSets115200_8N1(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	// Start from something else, as a tty left at 9600 7E2 would be.
	slave := fmt.Sprintf("/dev/pts/%d", n)
	pre, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tio, _ := unix.IoctlGetTermios(int(pre.Fd()), unix.TCGETS)
	tio.Cflag = tio.Cflag&^(unix.CBAUD|unix.CSIZE) | unix.B9600 | unix.CS7 | unix.PARENB | unix.CSTOPB
	if err := unix.IoctlSetTermios(int(pre.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	pre.Close()

	f, err := OpenSerial(slave)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cflag&unix.CBAUD != unix.B115200 || got.Cflag&unix.CSIZE != unix.CS8 ||
		got.Cflag&(unix.PARENB|unix.CSTOPB) != 0 || got.Cflag&unix.CREAD == 0 {
		t.Fatalf("cflag %#o, want 115200 8N1 with the receiver on", got.Cflag)
	}

	// A file that is not a tty opens as it is.
	p := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenSerial(p); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	if _, err := OpenSerial(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing tty opened")
	}
}

// TestPollableStdinLetsRunEnd: a blocking pipe (as a shell hands stdin to
// `tetherd -console -`) that never sends a line must not keep Run, and so
// the process, from ending.
func TestPollableStdinLetsRunEnd(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil { // blocking, unlike os.Pipe
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(p[0]), "stdin")
	w := os.NewFile(uintptr(p[1]), "stdin-writer")
	defer w.Close()
	in := Pollable(r)
	defer in.(*os.File).Close()
	tr, err := health.New(health.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Health: tr, Out: io.Discard, In: in, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // let the reader block in Read
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run still waits for a line after ctx ended")
	}
}
