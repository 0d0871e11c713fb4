package netlimit

import (
	"net"
	"testing"
	"time"
)

// A third connection from one address is closed at once; closing one of
// the first two makes room again.
func TestListenerPerAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	take := func() net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("not accepted")
		}
		return nil
	}
	dial()
	a := take()
	dial()
	take()
	third := dial()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection from one address was served")
	}
	if l.Refused() != 1 || l.Open("127.0.0.1") != 2 {
		t.Fatalf("refused %d open %d", l.Refused(), l.Open("127.0.0.1"))
	}
	a.Close()
	a.Close() // released once
	dial()
	take()
	if l.Open("127.0.0.1") != 2 {
		t.Fatalf("open %d", l.Open("127.0.0.1"))
	}
}
