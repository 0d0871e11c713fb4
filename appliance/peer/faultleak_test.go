package peer

import (
	"os"
	"strconv"
	"testing"

	"github.com/jonboulle/clockwork"
)

// TestRepeatedFaultsLeakNothing repeats what a hub restart, link cut or
// relay fallback does to the WebRTC layer during a call (new ICE servers
// from a new session:verify, the socket reconnected, an ICE restart with
// TURN configured) N times and checks that goroutines and open files do
// not grow (the bench's soak saw tetherd grow by ~4 per fault; its cause
// was the metrics listener, appliance TestMetricsScrapesLeakNothing; this
// guards the call's part). TETHER_LEAK_N sets N (default 5).
func TestRepeatedFaultsLeakNothing(t *testing.T) {
	n := 5
	if s := os.Getenv("TETHER_LEAK_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	r := newHarness(t, clockwork.NewRealClock())
	ice := startTURN(t, r)
	r.peer.SetICEServers(ice)
	r.waitStandby()
	c := r.join("cust-1")
	defer c.close()
	r.waitState(Connected)
	c.waitFrames(1)
	fault := func() {
		r.peer.SetICEServers(ice)
		r.peer.SocketReconnected()
		r.peer.restartICE()
		r.waitState(Restarting)
		r.waitState(Connected)
		c.waitFrames(5)
	}
	fault() // warm-up: the first restart allocates what every later one reuses
	g0, f0, _ := r.resources(t)
	for range n {
		fault()
	}
	g1, f1, _ := r.resources(t)
	t.Logf("%d faults: goroutines %d -> %d, fds %d -> %d", n, g0, g1, f0, f1)
	if g1 > g0+10 {
		t.Errorf("goroutines grew %d -> %d over %d faults", g0, g1, n)
	}
	if f1 > f0+4 {
		t.Errorf("open files grew %d -> %d over %d faults", f0, f1, n)
	}
}
