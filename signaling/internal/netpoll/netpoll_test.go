package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// pair is a connected loopback TCP pair: the server side s is polled, the
// client side c writes.
func pair(t testing.TB) (s, c net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

func newPoller(t testing.TB) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func wait(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no callback within 10s")
		return ""
	}
}

// One call per Arm, and an Arm with bytes already waiting fires at once
// (level-triggered): the reader that took only part of what arrived is
// called again.
func TestArmIsOneShotAndLevelTriggered(t *testing.T) {
	if !supported {
		t.Skip("no epoll here")
	}
	p := newPoller(t)
	s, c := pair(t)
	got := make(chan string, 4)
	var h *Handle
	h, err := p.Register(s, func() {
		b := make([]byte, 1)
		if _, err := io.ReadFull(s, b); err != nil {
			got <- "err " + err.Error()
			return
		}
		got <- string(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if v := wait(t, got); v != "a" {
		t.Fatalf("first callback read %q, want a", v)
	}
	// Not re-armed: "b" waits in the kernel; a third byte written now
	// must not produce a callback before the Arm below, which must fire
	// at once for the byte already there.
	if _, err := c.Write([]byte("c")); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		t.Fatalf("callback %q without Arm", v)
	default:
	}
	for _, want := range []string{"b", "c"} {
		if err := h.Arm(); err != nil {
			t.Fatal(err)
		}
		if v := wait(t, got); v != want {
			t.Fatalf("callback read %q, want %q", v, want)
		}
	}
}

// A peer that hangs up wakes the reader, which reads EOF.
func TestHangUpFires(t *testing.T) {
	if !supported {
		t.Skip("no epoll here")
	}
	p := newPoller(t)
	s, c := pair(t)
	got := make(chan string, 1)
	h, err := p.Register(s, func() {
		_, err := s.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			got <- "eof"
		} else {
			got <- fmt.Sprint("read: ", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if v := wait(t, got); v != "eof" {
		t.Fatal(v)
	}
}

// Arm on a closed connection fails; a closed Handle's event is dropped.
func TestClosed(t *testing.T) {
	if !supported {
		t.Skip("no epoll here")
	}
	p := newPoller(t)
	s, c := pair(t)
	fired := make(chan string, 1)
	h, err := p.Register(s, func() { fired <- "fired" })
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// A second connection proves the poller went on: its callback comes,
	// the closed handle's never did.
	s2, c2 := pair(t)
	h2, err := p.Register(s2, func() { fired <- "second" })
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Arm(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if v := wait(t, fired); v != "second" {
		t.Fatalf("got %q: the closed handle's callback ran", v)
	}
	s.Close()
	h3, err := p.Register(s, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if err := h3.Arm(); err == nil {
		t.Fatal("Arm on a closed connection succeeded")
	}
}

func TestUnsupported(t *testing.T) {
	p := newPoller(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := p.Register(a, func() {}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("net.Pipe: %v, want ErrUnsupported", err)
	}
}

// Many idle connections cost no goroutine each: the point of the package.
func TestIdleConnectionsHaveNoGoroutine(t *testing.T) {
	if !supported {
		t.Skip("no epoll here")
	}
	p := newPoller(t)
	const n = 500
	before := runtime.NumGoroutine()
	got := make(chan string, n)
	clients := make([]net.Conn, n)
	for i := range n {
		s, c := pair(t)
		clients[i] = c
		h, err := p.Register(s, func() {
			b := make([]byte, 1)
			_, _ = s.Read(b)
			got <- string(b)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Arm(); err != nil {
			t.Fatal(err)
		}
	}
	if g := runtime.NumGoroutine() - before; g > 10 {
		t.Fatalf("%d idle connections added %d goroutines", n, g)
	}
	for _, c := range clients {
		if _, err := c.Write([]byte("z")); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if v := wait(t, got); v != "z" {
			t.Fatalf("read %q", v)
		}
	}
}

func TestPollerCloseIsIdempotent(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := pair(t)
	if _, err := p.Register(s, func() {}); err == nil {
		t.Fatal("Register after Close succeeded")
	}
}
