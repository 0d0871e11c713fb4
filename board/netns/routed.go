package netns

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// Routed is three namespaces in a line, A — R — B: A and B are the two ends
// of a call (appliance and customer), R is the network between them. R
// routes between two /30s and is where a path is cut (its FORWARD chain)
// while its own services (a TURN or signalling server bound to R's
// addresses) stay reachable from both ends, as on the Internet.
type Routed struct {
	spaces
	A, R, B    string // namespace names
	IfA, IfB   string // the ends' interfaces
	IfRA, IfRB string // R's interfaces towards A and B
	AddrA      string // A's address; its default route is AddrRA
	AddrRA     string // R's address on A's link
	AddrRB     string // R's address on B's link
	AddrB      string // B's address; its default route is AddrRB
}

// NewRouted builds A — R — B, or skips the test with the reason when this
// machine cannot. Everything is removed at cleanup.
func NewRouted(t testing.TB) *Routed {
	t.Helper()
	rb, id := prepare(t)
	// 10.200-249.x.0/29 inside our namespaces only: .0/30 is A's link,
	// .4/30 is B's.
	base := fmt.Sprintf("10.%d.%d.", 200+int(rb[0])%50, rb[1])
	r := &Routed{
		A: "tth-" + id + "-a", R: "tth-" + id + "-r", B: "tth-" + id + "-b",
		IfA: "vth" + id[:5] + "a", IfRA: "vth" + id[:5] + "p",
		IfB: "vth" + id[:5] + "b", IfRB: "vth" + id[:5] + "q",
		AddrRA: base + "1", AddrA: base + "2", AddrRB: base + "5", AddrB: base + "6",
	}
	r.spaces = spaces{t: t, all: []string{r.A, r.R, r.B}}
	steps := [][]string{
		{"netns", "add", r.A},
		{"netns", "add", r.R},
		{"netns", "add", r.B},
		{"link", "add", r.IfA, "netns", r.A, "type", "veth", "peer", "name", r.IfRA, "netns", r.R},
		{"link", "add", r.IfB, "netns", r.B, "type", "veth", "peer", "name", r.IfRB, "netns", r.R},
		{"-n", r.A, "addr", "add", r.AddrA + "/30", "dev", r.IfA},
		{"-n", r.R, "addr", "add", r.AddrRA + "/30", "dev", r.IfRA},
		{"-n", r.R, "addr", "add", r.AddrRB + "/30", "dev", r.IfRB},
		{"-n", r.B, "addr", "add", r.AddrB + "/30", "dev", r.IfB},
	}
	for _, ns := range []string{r.A, r.R, r.B} {
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", r.A, "link", "set", r.IfA, "up"},
		[]string{"-n", r.R, "link", "set", r.IfRA, "up"},
		[]string{"-n", r.R, "link", "set", r.IfRB, "up"},
		[]string{"-n", r.B, "link", "set", r.IfB, "up"},
		[]string{"-n", r.A, "route", "add", "default", "via", r.AddrRA},
		[]string{"-n", r.B, "route", "add", "default", "via", r.AddrRB},
	)
	r.build(steps)
	// /proc/sys/net belongs to the namespace of whoever opens it.
	r.Run(r.R, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	return r
}

// LinkDown takes A's interface down: the appliance's cable pulled. Its
// address and route come back with LinkUp.
func (r *Routed) LinkDown() { r.Run(r.A, "ip", "link", "set", r.IfA, "down") }

// LinkUp brings A's interface back and restores its default route, which
// the kernel removed with the link.
func (r *Routed) LinkUp() {
	r.Run(r.A, "ip", "link", "set", r.IfA, "up")
	r.Run(r.A, "ip", "route", "replace", "default", "via", r.AddrRA)
}

// DropForward drops packets R would forward between A and B that match
// (e.g. "-p", "udp"; nothing: every packet). R's own services stay
// reachable. The returned func removes the rule.
func (r *Routed) DropForward(match ...string) (undo func()) {
	r.t.Helper()
	return r.drop(r.R, "FORWARD", match)
}

// LossForward drops a random fraction of forwarded packets in both
// directions (netem's loss without netem).
func (r *Routed) LossForward(probability float64) (undo func()) {
	return r.DropForward("-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.3f", probability))
}

// Listen opens a TCP listener inside ns.
func Listen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(ns, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// DialTimeout dials addr from inside ns.
func DialTimeout(ns, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := Do(ns, func() (err error) {
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// Forward accepts connections on ln (in the test's own namespace) and
// splices each to addr inside ns, e.g. to reach a browser's DevTools port
// that listens on ns's loopback. It stops when ln is closed.
func Forward(ln net.Listener, ns, addr string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var d net.Conn
				// The target may still be starting: retry for a while.
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					if d, err = DialTimeout(ns, "tcp", addr, time.Second); err == nil || time.Now().After(deadline) {
						break
					}
				}
				if err != nil {
					return
				}
				defer d.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(d, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, d); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// DropInput drops packets arriving for ns's own addresses (its INPUT
// chain) that match, e.g. R's hub refusing WebSocket upgrades from A with
// "-s", AddrA, "-m", "string", "--algo", "bm", "--string",
// "transport=websocket". The returned func removes the rule.
func (r *Routed) DropInput(ns string, match ...string) (undo func()) {
	r.t.Helper()
	return r.drop(ns, "INPUT", match)
}
