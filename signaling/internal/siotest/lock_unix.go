//go:build unix

package siotest

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on path so that test binaries of several
// packages running at once do not run `npm ci` concurrently.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("siotest: open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("siotest: flock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// Stop and Cont signals (SIGSTOP cannot be caught: the process stops
// answering everything, pings included, while the kernel still accepts TCP).
var (
	sigStop os.Signal = syscall.SIGSTOP
	sigCont os.Signal = syscall.SIGCONT
)
