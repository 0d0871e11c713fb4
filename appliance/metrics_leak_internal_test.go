package appliance

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"tether/internal/testenv"
)

// TestMetricsScrapesLeakNothing: scrapers that keep their connection alive
// and never close it (a new transport per scrape, as the bench's soak did
// between faults) must not hold tetherd's fds and goroutines for ever: the
// soak saw ~4 more per fault until a restart. After N such scrapes the
// goroutines and fds fall back to where they were (idle timeout shortened
// for the test; 30 s in the product). TETHER_LEAK_N sets N (default 20).
func TestMetricsScrapesLeakNothing(t *testing.T) {
	n := 20
	if s := os.Getenv("TETHER_LEAK_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	defer func(d time.Duration) { metricsIdleTimeout = d }(metricsIdleTimeout)
	metricsIdleTimeout = 300 * time.Millisecond
	a := newInternalApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serveMetrics(ctx, ln) }()
	defer func() { cancel(); <-done }()
	scrape := func() {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}} // never closed
		resp, err := c.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	scrape()
	testenv.Eventually(t, 20*time.Second, "the warm-up scrape's connection closed", func() bool {
		g, _, _ := testenv.Resources()
		time.Sleep(50 * time.Millisecond)
		g2, _, _ := testenv.Resources()
		return g == g2
	})
	g0, f0, _ := testenv.Resources()
	for range n {
		scrape()
	}
	g1, f1, _ := testenv.Resources()
	t.Logf("after %d scrapes: goroutines %d -> %d, fds %d -> %d", n, g0, g1, f0, f1)
	// Each kept connection costs a goroutine on each side and an fd on
	// each side; a small slack covers the runtime's own.
	testenv.Eventually(t, 20*time.Second, "scrapers' idle connections closed by tetherd", func() bool {
		g, f, _ := testenv.Resources()
		return g <= g0+3 && f <= f0+2
	})
}
