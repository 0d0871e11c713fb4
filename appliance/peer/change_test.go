package peer

import (
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/internal/testenv"
)

// TestCustomerChanges: many customers in a row, each sending its
// microphone, joining, getting frames while the appliance reads its track
// (Config.OnTrack), and leaving with call:ended, with no growth in
// goroutines, open files or heap, and no goroutine left behind once Run
// returns: the customer's track and its RTCP stop being read when the
// call ends (issue 15).
func TestCustomerChanges(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 50
	}
	// Registered first so it runs last, after the harness's cleanups.
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })

	kinds := make(chan string, 16)
	r := newHarness(t, clockwork.NewRealClock(), withCustomerTracks(kinds))
	change := func(i int) {
		id := fmt.Sprintf("cust-%d", i)
		c := newCustomer(r.tb, id, r.net.custNet, r.hub)
		c.addAudio() // rides the answer
		r.peer.UserJoined(id)
		r.waitState(Connected)
		c.waitFrames(1)
		select {
		case k := <-kinds:
			if k != "audio" {
				t.Fatalf("change %d: the appliance received a %s track", i, k)
			}
		case <-time.After(waitLimit):
			t.Fatalf("change %d: the customer's microphone never reached Config.OnTrack", i)
		}
		c.close() // the customer hangs up; the room then reports call:ended
		r.peer.CallEnded(id)
		r.waitState(Waiting)
	}
	const warm = 10
	for i := 0; i < warm; i++ {
		change(i)
	}
	g0, f0, h0 := r.resources(t)
	for i := warm; i < warm+n; i++ {
		change(i)
	}
	g1, f1, h1 := r.resources(t)
	t.Logf("%d changes: goroutines %d -> %d, fds %d -> %d, heap %d KiB -> %d KiB", n, g0, g1, f0, f1, h0>>10, h1>>10)
	if g1 > g0+25 {
		t.Errorf("goroutines grew %d -> %d", g0, g1)
	}
	if f1 > f0+10 {
		t.Errorf("open files grew %d -> %d", f0, f1)
	}
	if h1 > h0+32<<20 {
		t.Errorf("heap grew %d KiB -> %d KiB", h0>>10, h1>>10)
	}
	st := r.syncStats()
	t.Logf("stats: %+v", st)
	if st.Customers != uint64(warm+n) || st.CustomerTracks != uint64(warm+n) {
		t.Errorf("customers %d, their tracks %d, want %d each", st.Customers, st.CustomerTracks, warm+n)
	}
}

// resources counts goroutines, open file descriptors and live heap once
// the PeerConnections being closed in the background are gone.
func (r *harness) resources(t *testing.T) (goroutines, fds int, heap uint64) {
	t.Helper()
	done := make(chan struct{})
	r.peer.enqueue(event{kind: evSync, done: done, hook: r.peer.closers.Wait}) // Run is the only Add-er
	<-done
	return testenv.Resources()
}
