// Package netns builds throw-away network namespaces joined by a veth pair
// for tests that must cut, drop or degrade a real network path (the host
// kernel here has no netem: faults are link state and iptables rules, and
// added delay is NFQUEUE with a user-space holding line, delay.go).
//
// Every namespace is named after the test, lives only as long as it, and
// uses addresses inside it alone; nothing touches the host's interfaces.
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Pair is two namespaces, A and B, linked by a veth pair with one /30.
type Pair struct {
	spaces
	A, B  string // namespace names
	IfA   string // interface in A
	IfB   string // interface in B
	AddrA string // A's address (no prefix)
	AddrB string // B's address
}

// Available says why namespaces cannot be made here, or "" if they can.
func Available() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "iproute2's ip is not installed"
	}
	return ""
}

// NewPair creates the namespaces and the link, or skips the test with the
// reason when this machine cannot. Everything is removed at cleanup.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	rb, id := prepare(t)
	p := &Pair{
		A: "tth-" + id + "-a", B: "tth-" + id + "-b",
		IfA: "vth" + id[:5] + "a", IfB: "vth" + id[:5] + "b",
		// 10.200-254.x.y/30 inside our namespaces only.
		AddrA: fmt.Sprintf("10.%d.%d.1", 200+int(rb[0])%50, rb[1]),
		AddrB: fmt.Sprintf("10.%d.%d.2", 200+int(rb[0])%50, rb[1]),
	}
	p.spaces = spaces{t: t, all: []string{p.A, p.B}}
	steps := [][]string{
		{"netns", "add", p.A},
		{"netns", "add", p.B},
		{"link", "add", p.IfA, "netns", p.A, "type", "veth", "peer", "name", p.IfB, "netns", p.B},
		{"-n", p.A, "addr", "add", p.AddrA + "/30", "dev", p.IfA},
		{"-n", p.B, "addr", "add", p.AddrB + "/30", "dev", p.IfB},
		{"-n", p.A, "link", "set", "lo", "up"},
		{"-n", p.B, "link", "set", "lo", "up"},
		{"-n", p.A, "link", "set", p.IfA, "up"},
		{"-n", p.B, "link", "set", p.IfB, "up"},
	}
	p.build(steps)
	return p
}

// prepare skips t when namespaces cannot be built here and returns random
// bytes for addresses and their hex form for names.
func prepare(t testing.TB) ([3]byte, string) {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip("netns: " + why)
	}
	if testing.Short() {
		t.Skip("netns: -short: not building namespaces")
	}
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	return rb, hex.EncodeToString(rb[:])
}

func run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// LinkDown takes A's side of the link down (a cable pulled at the device).
func (p *Pair) LinkDown() { p.Run(p.A, "ip", "link", "set", p.IfA, "down") }

// LinkUp brings A's side back; addresses stay configured.
func (p *Pair) LinkUp() { p.Run(p.A, "ip", "link", "set", p.IfA, "up") }

// iptables prefers the legacy binary: it needs no nftables kernel support.
func iptables() string {
	for _, n := range []string{"iptables-legacy", "iptables"} {
		if path, err := exec.LookPath(n); err == nil {
			return path
		}
	}
	return "iptables"
}

// Drop adds an iptables rule in ns dropping matching input, e.g.
// Drop(p.A, "-p", "udp"); the returned func removes it.
func (p *Pair) Drop(ns string, match ...string) (undo func()) {
	p.t.Helper()
	return p.drop(ns, "INPUT", match)
}

// Loss drops a random fraction of ns's input packets with the statistic
// match (netem's loss without netem).
func (p *Pair) Loss(ns string, probability float64) (undo func()) {
	return p.Drop(ns, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.3f", probability))
}
