package netns

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// udpEcho answers every datagram on addr inside ns with itself until the
// test ends.
func udpEcho(t *testing.T, ns, addr string) string {
	t.Helper()
	var c net.PacketConn
	if err := Do(ns, func() (err error) { c, err = net.ListenPacket("udp4", addr+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteTo(buf[:n], from)
		}
	}()
	return c.LocalAddr().String()
}

// probe sends n numbered datagrams from the socket to dst, one at a time,
// and returns each round trip; a missing or out-of-order echo fails t.
func probe(t *testing.T, c net.PacketConn, dst string, n int) []time.Duration {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		t.Fatal(err)
	}
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		var msg [4]byte
		binary.BigEndian.PutUint32(msg[:], uint32(i))
		t0 := time.Now()
		if _, err := c.WriteTo(msg[:], to); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("probe %d to %s: %v", i, dst, err)
		}
		if m != 4 || binary.BigEndian.Uint32(buf[:4]) != uint32(i) {
			t.Fatalf("probe %d to %s: echo %x", i, dst, buf[:m])
		}
		rtts = append(rtts, time.Since(t0))
	}
	return rtts
}

func minDur(v []time.Duration) time.Duration {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

// nfqueueRules lists R's iptables rules that send packets to a queue.
func nfqueueRules(t *testing.T, r *Routed) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := r.Command(ctx, r.R, iptables(), "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -S: %v: %s", err, out)
	}
	var q []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "NFQUEUE") {
			q = append(q, l)
		}
	}
	return q
}

// TestDelayA: with DelayA(d) every round trip A makes, to B across R and
// to R itself, takes at least d (each datagram A sends is held d; a lower
// bound, not a speed figure), none is lost or reordered, and Stop leaves
// no rule behind.
func TestDelayA(t *testing.T) {
	r := NewRouted(t)
	toB := udpEcho(t, r.B, r.AddrB)
	toR := udpEcho(t, r.R, r.AddrRA)
	var c net.PacketConn
	if err := Do(r.A, func() (err error) { c, err = net.ListenPacket("udp4", r.AddrA+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	probe(t, c, toB, 1) // a fresh veth: the first answer may take a moment
	base := minDur(probe(t, c, toB, 10))

	const d = 100 * time.Millisecond
	dl := r.DelayA(d)
	for _, dst := range []string{toB, toR} {
		rtts := probe(t, c, dst, 10)
		if m := minDur(rtts); m < d {
			t.Fatalf("round trip to %s with %v added: %v, shorter than the delay (without: %v)", dst, d, m, base)
		}
		t.Logf("to %s: round trip %v without delay, at least %v with %v added", dst, base, minDur(rtts), d)
	}

	// A burst crosses in order and whole.
	const burst = 200
	var sink net.PacketConn
	if err := Do(r.B, func() (err error) { sink, err = net.ListenPacket("udp4", r.AddrB+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	got := make(chan []uint32, 1)
	go func() {
		var seq []uint32
		buf := make([]byte, 64)
		for len(seq) < burst {
			_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, _, err := sink.ReadFrom(buf)
			if err != nil || n != 4 {
				break
			}
			seq = append(seq, binary.BigEndian.Uint32(buf[:4]))
		}
		got <- seq
	}()
	to, _ := net.ResolveUDPAddr("udp4", sink.LocalAddr().String())
	for i := 0; i < burst; i++ {
		var msg [4]byte
		binary.BigEndian.PutUint32(msg[:], uint32(i))
		if _, err := c.WriteTo(msg[:], to); err != nil {
			t.Fatal(err)
		}
	}
	seq := <-got
	if len(seq) != burst {
		t.Fatalf("burst: %d of %d datagrams crossed", len(seq), burst)
	}
	for i, v := range seq {
		if v != uint32(i) {
			t.Fatalf("burst reordered: datagram %d arrived as %d", v, i)
		}
	}
	st := dl.Stats()
	if st.Delayed < burst+20 || st.Overflow != 0 || st.Errors != 0 {
		t.Fatalf("stats %+v: want ≥ %d delayed, no overflow, no error", st, burst+20)
	}
	if err := dl.Stop(); err != nil {
		t.Fatal(err)
	}
	if q := nfqueueRules(t, r); len(q) != 0 {
		t.Fatalf("rules left after Stop: %q", q)
	}
	probe(t, c, toB, 3) // and the path still works
}

// TestDelayBounds: past MaxHeld packets go through at once (fail-open,
// counted) rather than being dropped, and a Delayer whose context ends
// removes its rules.
func TestDelayBounds(t *testing.T) {
	r := NewRouted(t)
	toB := udpEcho(t, r.B, r.AddrB)
	var c net.PacketConn
	if err := Do(r.A, func() (err error) { c, err = net.ListenPacket("udp4", r.AddrA+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	probe(t, c, toB, 1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// 2 s: the 50 datagrams below are surely sent within it, so more
	// than 8 are held at once however loaded the machine.
	dl, err := Delay(ctx, r.R, 2*time.Second, DelayOptions{MaxHeld: 8}, Rule{Chain: "FORWARD", Match: []string{"-i", r.IfRA}})
	if err != nil {
		t.Fatal(err)
	}
	to, _ := net.ResolveUDPAddr("udp4", toB)
	const n = 50
	for i := 0; i < n; i++ {
		if _, err := c.WriteTo([]byte{byte(i)}, to); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[byte]bool{}
	buf := make([]byte, 64)
	for len(seen) < n {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%d of %d echoes: %v", len(seen), n, err)
		}
		if m == 1 {
			seen[buf[0]] = true
		}
	}
	st := dl.Stats()
	if st.Overflow == 0 || st.Delayed+st.Overflow != n {
		t.Fatalf("stats %+v: want some overflow, and delayed+overflow = %d", st, n)
	}
	cancel()
	for deadline := time.Now().Add(30 * time.Second); len(nfqueueRules(t, r)) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("rules left after the context ended: %q", nfqueueRules(t, r))
		}
	}
	if err := dl.Stop(); err != nil {
		t.Fatal(err)
	}
}
