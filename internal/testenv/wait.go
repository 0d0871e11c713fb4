package testenv

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// Eventually polls ok every 10 ms until it holds, failing tb with what if it
// does not within d. The bound is generous on purpose: it is a deadline for
// a hang on a loaded 2-core box, not a speed assertion.
func Eventually(tb testing.TB, d time.Duration, what string, ok func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("not seen within %v: %s", d, what)
		}
	}
}

// Changes wakes waiters when state guarded by the caller's mutex changes:
// a fake server calls Note (holding its mutex) after every change and a test
// waits for a condition without polling.
type Changes struct {
	ch chan struct{}
}

// Note wakes every Wait. Call it with the state's mutex held.
func (c *Changes) Note() {
	if c.ch != nil {
		close(c.ch)
	}
	c.ch = make(chan struct{})
}

// Wait returns nil once ok (called with mu held) is true, or ctx's error
// wrapped with what.
func (c *Changes) Wait(ctx context.Context, mu sync.Locker, what string, ok func() bool) error {
	for {
		mu.Lock()
		if ok() {
			mu.Unlock()
			return nil
		}
		if c.ch == nil {
			c.ch = make(chan struct{})
		}
		ch := c.ch
		mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// Listen listens on addr (a fixed loopback port when a test restarts a
// server on it), retrying for up to 10 s while the previous listener's
// port is still in use.
func Listen(tb testing.TB, addr string) net.Listener {
	tb.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}
