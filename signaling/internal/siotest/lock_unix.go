//go:build unix

package siotest

import (
	"os"
	"syscall"
)

// Stop and Cont signals (SIGSTOP cannot be caught: the process stops
// answering everything, pings included, while the kernel still accepts TCP).
var (
	sigStop os.Signal = syscall.SIGSTOP
	sigCont os.Signal = syscall.SIGCONT
)
