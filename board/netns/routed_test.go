package netns

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRouted(t *testing.T) {
	r := NewRouted(t)
	ping := func(from, to string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := r.Command(ctx, from, "ping", "-c", "1", "-W", "1", to).CombinedOutput()
		return err == nil && strings.Contains(string(out), "1 received")
	}
	waitPing := func(from, to string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ping(from, to); {
			if time.Now().After(deadline) {
				t.Fatalf("no ping %s -> %s", from, to)
			}
		}
	}
	waitPing(r.A, r.AddrB)

	undo := r.DropForward()
	if ping(r.A, r.AddrB) {
		t.Fatal("ping crossed R with forwarding dropped")
	}
	// R's own addresses stay reachable from both ends.
	waitPing(r.B, r.AddrRA)
	waitPing(r.A, r.AddrRB)
	undo()
	waitPing(r.B, r.AddrA)

	r.LinkDown()
	if ping(r.A, r.AddrB) {
		t.Fatal("ping crossed a link that is down")
	}
	r.LinkUp()
	waitPing(r.A, r.AddrB)
}

// TestDoAndForward: a listener opened with Do lives in the namespace (B
// reaches it at A's address), and Forward splices a host connection to a
// namespace's loopback.
func TestDoAndForward(t *testing.T) {
	r := NewRouted(t)
	ln, err := Listen(r.A, "tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello from A\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := DialTimeout(r.B, "tcp", net.JoinHostPort(r.AddrA, itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatalf("B -> A: %v", err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "hello from A\n" {
		t.Fatalf("got %q", line)
	}
	// The host cannot reach A's loopback; through Forward it can.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	Forward(host, r.A, net.JoinHostPort("127.0.0.1", itoa(port)))
	c, err = net.DialTimeout("tcp", host.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	line, _ = bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "hello from A\n" {
		t.Fatalf("through Forward: got %q", line)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
