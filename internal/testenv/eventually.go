package testenv

import (
	"testing"
	"time"
)

// Eventually polls ok every 10 ms until it holds, failing the test with
// what once within has passed. The bound is generous on purpose: it is a
// wait for an outcome on a loaded box, never a speed assertion.
func Eventually(tb testing.TB, within time.Duration, what string, ok func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("not seen within %v: %s", within, what)
		}
	}
}
