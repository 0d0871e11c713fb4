package connlimit

import (
	"io"
	"net"
	"testing"
	"time"
)

func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedSoon reports whether the server closed c (EOF or reset) within d.
func closedSoon(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestPerAddressAndTotalCaps(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, Config{PerAddr: 3, Total: 5})
	defer l.Close()
	accepted := make(chan net.Conn, 100)
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
	addr := raw.Addr().String()
	// Five from one address: three kept, two closed at once.
	var a []net.Conn
	for range 5 {
		a = append(a, dialFrom(t, "127.0.0.2", addr))
	}
	var kept []net.Conn
	for range 3 {
		kept = append(kept, <-accepted)
	}
	closed := 0
	for _, c := range a {
		if closedSoon(c, 200*time.Millisecond) {
			closed++
		}
	}
	if closed != 2 || l.Refused() != 2 || l.Open() != 3 {
		t.Fatalf("closed %d, refused %d, open %d; want 2, 2, 3", closed, l.Refused(), l.Open())
	}
	// Another address still gets in, up to the total of 5.
	b1, b2, b3 := dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr)
	kept = append(kept, <-accepted, <-accepted)
	if !closedSoon(b3, 2*time.Second) || closedSoon(b1, 100*time.Millisecond) || closedSoon(b2, 100*time.Millisecond) {
		t.Fatal("the total cap of 5 was not applied to the sixth connection")
	}
	// Closing gives the slot back (once, however often Close is called).
	kept[0].Close()
	kept[0].Close()
	if l.Open() != 4 {
		t.Fatalf("open %d after one close, want 4", l.Open())
	}
	c := dialFrom(t, "127.0.0.2", addr)
	got := <-accepted
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(got, make([]byte, 1)); err != nil {
		t.Fatalf("the freed slot was not reused: %v", err)
	}
	for _, k := range append(kept[1:], got) {
		k.Close()
	}
	if l.Open() != 0 {
		t.Fatalf("open %d after closing all, want 0", l.Open())
	}
}
