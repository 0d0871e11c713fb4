package hub_test

// Browser tests of the customer page (issue 3, "Proof"): headless Chromium
// with a fake camera runs the built page against a real hub, with the real
// appliance as the counter. They skip only when Chromium (or npm, to build
// the page) is missing; CI installs Debian's chromium.

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// mediaWait bounds a call set-up: socket, join, offer/answer, ICE, DTLS,
// first decoded frame, on a 2-core machine running everything at once.
const mediaWait = 30 * time.Second

// TestBrowserQueueAndPromotion: two customers for one counter. The first
// gets the counter's video, the second waits at position 1; the first ends
// the call with the page's button and the second is promoted and gets
// video.
func TestBrowserQueueAndPromotion(t *testing.T) {
	e := newBEnv(t, nil)
	alice := e.open("Alice", "")
	s := alice.waitMedia(mediaWait)
	if s.Permission != "granted" {
		t.Errorf("alice: camera permission %q with the fake device", s.Permission)
	}
	alice.screenshot("alice-connected")

	bob := e.open("Bob", "")
	s = bob.waitFor("waiting in queue (position 1)", wait, func(s pageState) bool {
		return s.State == "queued" && position(s) == 1
	})
	if !strings.Contains(strings.ToLower(s.Banner), "waiting in queue (position 1)") {
		t.Errorf("bob's banner %q", s.Banner)
	}
	if s.PCState != "none" {
		t.Errorf("a queued customer has a peer connection (%s)", s.PCState)
	}
	bob.screenshot("bob-queued")

	// Alice's media keeps flowing while Bob waits.
	before, err := alice.state()
	if err != nil {
		t.Fatal(err)
	}
	alice.waitFor("more frames", wait, func(s pageState) bool { return s.Stats.FramesDecoded > before.Stats.FramesDecoded })

	// Alice ends the call with the button.
	ctx, cancel := context.WithTimeout(alice.ctx, wait)
	err = chromedp.Do(ctx, chromedp.Click("#end"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	s = alice.waitFor("call ended", wait, func(s pageState) bool { return s.State == "call-ended" && s.PCState == "none" })
	alice.screenshot("alice-ended")

	s = bob.waitMedia(mediaWait)
	if s.Calls != 1 {
		t.Errorf("bob joined %d times, want once (promoted in place)", s.Calls)
	}
	if !containsState(s.History, "queued:1") {
		t.Errorf("bob's states %v lack queued:1", s.History)
	}
	bob.screenshot("bob-connected")

	// Alice's page stays ended: no signal of Bob's call reaches her.
	if s, err := alice.state(); err != nil || s.State != "call-ended" {
		t.Errorf("alice after bob's promotion: %v %+v", err, s)
	}
}

// TestBrowserWebSocketBlocked: the hub refuses WebSocket upgrades (a proxy
// that does not pass them); socket.io-client falls back to long-polling in
// the same attempt (tryAllTransports) and the call works over it.
func TestBrowserWebSocketBlocked(t *testing.T) {
	var upgrades atomic.Int32
	block := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				upgrades.Add(1)
				http.Error(w, "websocket blocked by the test", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newBEnv(t, block)
	c := e.open("Carol", "")
	s := c.waitMedia(mediaWait)
	if s.Transport != "polling" {
		t.Errorf("transport %q, want polling", s.Transport)
	}
	// The query override pins polling without any block.
	d := e.open("Dave", "transports=polling")
	s = d.waitFor("queued over polling", wait, func(s pageState) bool { return s.State == "queued" && position(s) == 1 })
	if s.Transport != "polling" {
		t.Errorf("dave's transport %q, want polling", s.Transport)
	}
	if upgrades.Load() == 0 {
		t.Error("the page never tried WebSocket first")
	}
}

// TestBrowserHubRestart: the hub stops and a new one starts on the same
// port and data file. The page shows reconnecting, reconnects by itself,
// joins again (a new userId: the new hub cannot recover the old session)
// and the counter's video flows again on a new call.
func TestBrowserHubRestart(t *testing.T) {
	e := newBEnv(t, nil)
	erin := e.open("Erin", "")
	first := erin.waitMedia(mediaWait)

	e.hub.stop()
	s := erin.waitFor("reconnecting", wait, func(s pageState) bool { return s.State == "reconnecting" && s.Attempt >= 1 })
	if !strings.Contains(s.Banner, "reconnecting (attempt") {
		t.Errorf("banner %q", s.Banner)
	}
	erin.screenshot("erin-reconnecting")

	e.hub = startBHub(t, e.hub.addr, e.hub.data, nil)
	s = erin.waitFor("a new call after the restart", mediaWait, func(s pageState) bool {
		return s.Calls == 2 && s.State == "connected" && s.Stats.FramesDecoded > 0
	})
	if s.UserID == "" || s.UserID == first.UserID {
		t.Errorf("userId %q after the restart, before %q", s.UserID, first.UserID)
	}
	if s.Recovered {
		t.Error("a restarted hub recovered the old session")
	}
}

func containsState(h []string, want string) bool {
	for _, s := range h {
		if s == want {
			return true
		}
	}
	return false
}
