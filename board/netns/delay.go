package netns

import (
	"context"
	"errors"
	"time"
)

// The host kernel has no netem (`tc qdisc add ... netem` fails), but it has
// NFQUEUE: an iptables rule hands each matching packet to a netlink queue
// and the kernel holds it until a program gives a verdict by packet id
// (nfnetlink_queue). A Delayer gives ACCEPT d after the packet arrived, in
// arrival order: netem's `delay d` (no jitter, no reordering) for the
// packets the rules select.
//
// Bounds: at most MaxHeld packets wait at once; one more is let through at
// once (fail-open, counted in Overflow) rather than dropped, so a delay
// fault never adds loss; the kernel's own queue is a little longer and
// fails open too (NFQA_CFG_F_FAIL_OPEN). The rules carry --queue-bypass,
// so packets pass undelayed, not dropped, if this process dies without
// removing them (and the namespace goes at the test's cleanup anyway).

// DefaultMaxHeld bounds a Delayer's held packets: 4096 is 500 ms of a
// 8000 packets/s stream, far above a call's few hundred (and each held
// packet is an skb in the kernel: a few MiB at most).
const DefaultMaxHeld = 4096

// Rule selects packets to delay: an iptables chain of the filter table
// ("FORWARD", "INPUT", "OUTPUT") and match arguments ("-i", "veth0").
type Rule struct {
	Chain string
	Match []string
}

// DelayOptions tune a Delayer; the zero value is the default.
type DelayOptions struct {
	MaxHeld int // packets held at once (0: DefaultMaxHeld)
}

// DelayStats counts a Delayer's packets.
type DelayStats struct {
	Delayed  uint64 // held for the delay and accepted
	Overflow uint64 // let through at once: MaxHeld were already held
	Errors   uint64 // verdicts the kernel refused (the packet is lost)
}

// ErrDelay wraps what goes wrong setting up or removing a Delayer.
var ErrDelay = errors.New("netns: delay")

// DelayA holds every packet A sends, to B through R and to R's own
// services (the hub, TURN) alike, for d before R passes it on: netem's
// `delay d` on the device's uplink, so every round trip A makes grows by
// d and nothing else changes. Stop the returned Delayer to end it; it is
// stopped at the test's cleanup too.
func (r *Routed) DelayA(d time.Duration) *Delayer {
	r.t.Helper()
	dl, err := Delay(context.Background(), r.R, d, DelayOptions{},
		Rule{Chain: "FORWARD", Match: []string{"-i", r.IfRA}},
		Rule{Chain: "INPUT", Match: []string{"-i", r.IfRA}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = dl.Stop() })
	return dl
}
