//go:build linux

package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on a fresh OS thread that has joined the named network
// namespace (setns(2) with CLONE_NEWNET on /var/run/netns/<ns>, as
// `ip netns exec` does). Sockets fn opens belong to ns for their whole life,
// whichever thread later reads or writes them, so a test process can hold
// endpoints in several namespaces at once. The thread is never unlocked:
// when fn returns its goroutine exits and the runtime discards the thread
// rather than return a thread in a foreign namespace to the pool.
func Do(ns string, fn func() error) error {
	f, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread: see above.
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("netns %s: setns: %w", ns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}
