package testenv

import (
	"testing"
	"time"
)

// WaitFor polls ok every 10 ms until it holds, failing the test after
// within: a bounded wait for a state another goroutine reaches, never an
// assertion about speed.
func WaitFor(tb testing.TB, within time.Duration, what string, ok func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("not seen within %v: %s", within, what)
		}
	}
}
