package testenv

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestChanges(t *testing.T) {
	var mu sync.Mutex
	var c Changes
	n := 0
	go func() {
		for range 5 {
			mu.Lock()
			n++
			c.Note()
			mu.Unlock()
		}
	}()
	if err := c.Wait(context.Background(), &mu, "n=5", func() bool { return n == 5 }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx, &mu, "never", func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("never: %v", err)
	}
}

func TestEventually(t *testing.T) {
	i := 0
	Eventually(t, 10*time.Second, "third call", func() bool { i++; return i == 3 })
	if i != 3 {
		t.Fatalf("%d calls", i)
	}
}

func TestListenReusesPort(t *testing.T) {
	ln := Listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ln2 := Listen(t, addr)
	defer ln2.Close()
	if ln2.Addr().String() != addr {
		t.Fatalf("%s, want %s", ln2.Addr(), addr)
	}
}
