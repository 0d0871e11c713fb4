package appliance_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tether/appliance/health"
	"tether/internal/testenv"
)

// TestHubRestartsLeakNothing: the hub restarts N times under a running
// appliance (socket reconnect, verify, join, new ICE servers, standby
// rebuilt each time); goroutines and open files return to where they
// were (the bench's soak saw ~4 more per fault until a restart).
// TETHER_LEAK_N sets N (default 3).
func TestHubRestartsLeakNothing(t *testing.T) {
	n := 3
	if s := os.Getenv("TETHER_LEAK_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	th := startHub(t, "127.0.0.1:0", filepath.Join(dir, "hub.db"))
	a, _, _ := runLoggedIn(t, th, dir)
	restart := func() {
		th.stop()
		th = startHub(t, th.addr, th.data)
		th.online(t, true, 20*time.Second)
		waitOverall(t, a, health.StateReadyWaiting, 15*time.Second)
	}
	restart() // warm-up: the first reconnect sets up what later ones reuse
	settled := func() (int, int) {
		// Closed connections and finished goroutines take a moment to go.
		var g, f int
		testenv.Eventually(t, 20*time.Second, "goroutines settle", func() bool {
			g, f, _ = testenv.Resources()
			time.Sleep(200 * time.Millisecond)
			g2, _, _ := testenv.Resources()
			return g == g2
		})
		return g, f
	}
	g0, f0 := settled()
	for range n {
		restart()
	}
	testenv.Eventually(t, 30*time.Second, "goroutines and fds back to where they were", func() bool {
		g1, f1 := settled()
		t.Logf("%d hub restarts: goroutines %d -> %d, fds %d -> %d", n, g0, g1, f0, f1)
		return g1 <= g0+5 && f1 <= f0+3
	})
}
