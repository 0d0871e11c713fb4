package peer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/internal/testenv"
)

// TestChromiumSilentAfterRollback pins down, without the appliance, the one
// failure of issue 11's 1000 W3C "tracks at once" customer changes: after
// the W3C page's implicit rollback of an offer whose setLocalDescription was
// still running when the appliance's offer came, Chromium 156 sometimes
// leaves that RTCPeerConnection with an ICE agent that never gathers (not
// one candidate, iceGatheringState "gathering", connectionState "new"). It
// tries up to 80 arrivals (testdata/rollback-silent.html: two
// RTCPeerConnections in one page; 3 of 40 got stuck here) and, on the first
// stuck one, every offer the appliance could make: an ICE restart, new
// m-lines on a new BUNDLE transport, an offer from a fresh PeerConnection.
// None wakes it; only a new RTCPeerConnection in the page would, which the
// appliance cannot cause. If this test fails because one now does, Chromium
// changed and the appliance should make that offer to a customer that
// answered and then stayed silent.
func TestChromiumSilentAfterRollback(t *testing.T) {
	bin := testenv.RequireChromium(t)
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata")))
	defer srv.Close()
	actx, cancel := chromedp.NewExecAllocator(context.Background(), testenv.ChromiumOpts(bin, t.TempDir())...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/rollback-silent.html")); err != nil {
		t.Fatal(err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string]("run(80)", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tries                                      int
		Stuck                                      bool
		Cands                                      int
		Gathering, State                           string
		AfterRestart, AfterNewMlines, AfterRenewal string
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	t.Logf("Chromium: %s", raw)
	if !got.Stuck {
		t.Logf("none of %d arrivals got stuck: this Chromium may have fixed it", got.Tries)
		return
	}
	if got.Cands != 0 || got.State != "new" {
		t.Fatalf("stuck, but not as issue 11 saw it (no candidate, state new): %s", raw)
	}
	for what, after := range map[string]string{"an ICE restart": got.AfterRestart, "new m-lines": got.AfterNewMlines, "a fresh PeerConnection's offer": got.AfterRenewal} {
		if after == "connected" {
			t.Errorf("%s now wakes the stuck page: the appliance should make that offer to a customer that answered and stayed silent (%s)", what, raw)
		}
	}
}
