package netns

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestPairPingAndCut(t *testing.T) {
	p := NewPair(t)
	ping := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := p.Command(ctx, p.A, "ping", "-c", "1", "-W", "1", p.AddrB).CombinedOutput()
		return err == nil && strings.Contains(string(out), "1 received")
	}
	// A fresh veth needs a moment for carrier; wait for the first answer.
	for deadline := time.Now().Add(5 * time.Second); !ping(); {
		if time.Now().After(deadline) {
			t.Fatal("no ping across the veth pair")
		}
	}
	p.LinkDown()
	if ping() {
		t.Fatal("ping crossed a link that is down")
	}
	p.LinkUp()
	deadline := time.Now().Add(5 * time.Second)
	for !ping() {
		if time.Now().After(deadline) {
			t.Fatal("link did not come back")
		}
	}
	undo := p.Drop(p.B, "-p", "icmp")
	if ping() {
		t.Fatal("ping crossed an iptables DROP")
	}
	undo()
	if !ping() {
		t.Fatal("ping blocked after the rule was removed")
	}
}
