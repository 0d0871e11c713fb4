package termpw

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair through /dev/ptmx (pty(7)): unlock
// the slave, look up its number, open it. The slave is the terminal the
// password is typed at; what the line discipline echoes comes out of the
// master.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	// Non-blocking, so the runtime poller serves it and read deadlines
	// work on the master.
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// typeAt writes line at the terminal's keyboard while read runs on the
// slave, and returns read's result and everything the terminal displayed.
func typeAt(t *testing.T, read func(*os.File) (string, error), line string) (string, string) {
	t.Helper()
	m, s := openPTY(t)
	type res struct {
		pw  string
		err error
	}
	rc := make(chan res, 1)
	go func() { pw, err := read(s); rc <- res{pw, err} }()
	// Type only once the reader has set the terminal up (ReadPassword
	// turns echo off first): wait until ECHO is off or a short grace for
	// the plain reader, whose terminal keeps echo on.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS); err == nil && tio.Lflag&unix.ECHO == 0 {
			break
		}
	}
	if _, err := m.WriteString(line); err != nil {
		t.Fatal(err)
	}
	var r res
	select {
	case r = <-rc:
	case <-time.After(10 * time.Second):
		t.Fatal("the password read did not return")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	// Everything the terminal displayed so far, then nothing more.
	var shown bytes.Buffer
	_ = m.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _ = io.Copy(&shown, m)
	return r.pw, shown.String()
}

// TestReadAtTerminal: at a terminal the password is not echoed, the prompt
// is shown, and the terminal's echo is back on afterwards. The contrast, a
// plain line read at the same kind of terminal, shows the password, so the
// test can see an echo when there is one.
func TestReadAtTerminal(t *testing.T) {
	var prompt bytes.Buffer
	pw, shown := typeAt(t, func(s *os.File) (string, error) {
		if !IsTerminal(s) {
			return "", fmt.Errorf("a pty slave is not a terminal to IsTerminal")
		}
		pw, err := Read(s, &prompt, "password for counter-1: ")
		if err != nil {
			return "", err
		}
		tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
		if err != nil || tio.Lflag&unix.ECHO == 0 {
			return "", fmt.Errorf("echo not restored after the prompt: %v", err)
		}
		return pw, nil
	}, "s3cret-pw\r")
	if pw != "s3cret-pw" {
		t.Fatalf("read %q", pw)
	}
	if strings.Contains(shown, "s3cret") {
		t.Fatalf("the terminal showed the password: %q", shown)
	}
	if prompt.String() != "password for counter-1: \n" {
		t.Fatalf("prompt %q", prompt.String())
	}

	plain, shown := typeAt(t, func(s *os.File) (string, error) {
		return bufio.NewReader(s).ReadString('\n')
	}, "s3cret-pw\r")
	if strings.TrimSpace(plain) != "s3cret-pw" || !strings.Contains(shown, "s3cret-pw") {
		t.Fatalf("contrast: a plain read at a terminal should echo: read %q, shown %q", plain, shown)
	}
}
