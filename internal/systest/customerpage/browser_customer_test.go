package customerpage_test

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

	"tether/signaling/hub/auth"
)

// mediaWait bounds a call set-up: socket, join, offer/answer, ICE, DTLS,
// first decoded frame, on a 2-core machine running everything at once.
const mediaWait = 30 * time.Second

// bWait bounds every other page change (generous: CI runs other packages'
// tests beside these on 2 cores).
const bWait = 20 * time.Second

// TestBrowserQueueAndPromotion: two customers for one counter. The first
// gets the counter's video, the second waits at position 1; the first ends
// the call with the page's button and the second is promoted and gets
// video.
func TestBrowserQueueAndPromotion(t *testing.T) {
	t0 := time.Now()
	e := newBEnv(t, nil)
	t.Logf("hub, appliance and Chromium up in %v", time.Since(t0).Round(time.Millisecond))
	t1 := time.Now()
	alice := e.open("Alice", "")
	s := alice.waitMedia(mediaWait)
	t.Logf("alice: page open to first decoded frame in %v", time.Since(t1).Round(time.Millisecond))
	if s.Permission != "granted" {
		t.Errorf("alice: camera permission %q with the fake device", s.Permission)
	}
	alice.waitFor("her camera sent to the counter", bWait, func(s pageState) bool { return s.Stats.BytesSent > 0 })
	checkPhoneLayout(t, alice)
	alice.screenshot("alice-connected")

	// Bob says no to the camera: a toast, and he can still be served
	// receive-only.
	bob := e.openURL("Bob", e.hub.url()+"/c/"+e.invite+"?name=Bob", denyMedia)
	s = bob.waitFor("waiting in queue (position 1)", bWait, func(s pageState) bool {
		return s.State == "queued" && position(s) == 1
	})
	if s.Permission != "denied" || !containsPrefix(s.Toasts, "Permission denied") {
		t.Errorf("bob: permission %q, toasts %q", s.Permission, s.Toasts)
	}
	if !strings.Contains(strings.ToLower(s.Banner), "waiting in queue (position 1)") {
		t.Errorf("bob's banner %q", s.Banner)
	}
	if s.PCState != "none" {
		t.Errorf("a queued customer has a peer connection (%s)", s.PCState)
	}
	bob.screenshot("bob-queued")

	e.logf("alice in call, bob queued")
	checkDashboard(t, e)
	e.logf("dashboard checked")

	// Alice's media keeps flowing while Bob waits.
	before, err := alice.state()
	if err != nil {
		t.Fatal(err)
	}
	alice.waitFor("more frames", bWait, func(s pageState) bool { return s.Stats.FramesDecoded > before.Stats.FramesDecoded })

	// Alice ends the call with the button.
	ctx, cancel := context.WithTimeout(alice.ctx, bWait)
	err = chromedp.Do(ctx, chromedp.Click("#end"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	s = alice.waitFor("call ended", bWait, func(s pageState) bool { return s.State == "call-ended" && s.PCState == "none" })
	alice.screenshot("alice-ended")

	t2 := time.Now()
	s = bob.waitMedia(mediaWait)
	t.Logf("bob: promotion to first decoded frame in %v", time.Since(t2).Round(time.Millisecond))
	if s.Calls != 1 {
		t.Errorf("bob joined %d times, want once (promoted in place)", s.Calls)
	}
	if !containsState(s.History, "queued:1") {
		t.Errorf("bob's states %v lack queued:1", s.History)
	}
	bob.screenshot("bob-connected")
	e.logf("bob in call")

	// An ICE restart from the customer's side (what the page does when the
	// connection fails): the polite page offers new credentials, the
	// appliance answers, and the video goes on.
	if _, err := evalIn[chromedp.Void](bob, "tether.restartIce()"); err != nil {
		t.Fatal(err)
	}
	s = bob.waitFor("ICE restarted by the page", bWait, func(n pageState) bool {
		return n.Stats.ICEUfrag != "" && n.Stats.ICEUfrag != s.Stats.ICEUfrag && n.Stats.Signaling == "stable" &&
			n.State == "connected" && n.Stats.FramesDecoded > s.Stats.FramesDecoded+5
	})
	e.logf("ICE restart from the page done")

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
	// A wrong invite code is told as such.
	x := e.openURL("Xavier", e.hub.url()+"/c/not-an-invite?name=Xavier", "")
	x.waitFor("invite invalid", bWait, func(s pageState) bool { return s.State == "invite-invalid" })
	x.screenshot("invite-invalid")
	// Carol types her name and presses Join, as a person would.
	c := e.openURL("Carol", e.hub.url()+"/c/"+e.invite, "")
	c.waitFor("the name prompt", bWait, func(s pageState) bool { return s.State == "name" })
	c.screenshot("name-prompt")
	c.do(chromedp.SetValue("#name", "Carol"), chromedp.Click("#join-btn"))
	s := c.waitMedia(mediaWait)
	if s.Transport != "polling" {
		t.Errorf("transport %q, want polling", s.Transport)
	}
	// The query override pins polling without any block.
	d := e.open("Dave", "transports=polling")
	s = d.waitFor("queued over polling", bWait, func(s pageState) bool { return s.State == "queued" && position(s) == 1 })
	if s.Transport != "polling" {
		t.Errorf("dave's transport %q, want polling", s.Transport)
	}
	if upgrades.Load() == 0 {
		t.Error("the page never tried WebSocket first")
	}
}

// TestBrowserPollingUpgrade: the official client in Chromium starts on
// long-polling and upgrades to WebSocket through our server's probe
// sequence, and the call works over the upgraded session.
func TestBrowserPollingUpgrade(t *testing.T) {
	e := newBEnv(t, nil)
	p := e.open("Uma", "transports=polling,websocket")
	s := p.waitMedia(mediaWait)
	if s.Transport != "websocket" {
		s = p.waitFor("the upgrade to websocket", bWait, func(s pageState) bool { return s.Transport == "websocket" })
	}
	if s.Transport != "websocket" {
		t.Fatalf("transport %q after the upgrade", s.Transport)
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
	s := erin.waitFor("reconnecting", bWait, func(s pageState) bool { return s.State == "reconnecting" && s.Attempt >= 1 })
	if !strings.Contains(s.Banner, "reconnecting (attempt") {
		t.Errorf("banner %q", s.Banner)
	}
	erin.screenshot("erin-reconnecting")

	e.logf("hub stopped, page reconnecting")
	restarted := time.Now()
	e.hub = startBHub(t, e.hub.addr, e.hub.data, nil)
	s = erin.waitFor("a new call after the restart", mediaWait, func(s pageState) bool {
		return s.Calls == 2 && s.State == "connected" && s.Stats.FramesDecoded > 0
	})
	e.logf("new hub started; page rejoined and decodes frames %v later", time.Since(restarted).Round(time.Millisecond))
	if s.UserID == "" || s.UserID == first.UserID {
		t.Errorf("userId %q after the restart, before %q", s.UserID, first.UserID)
	}
	if s.Recovered {
		t.Error("a restarted hub recovered the old session")
	}

	// The page answers the appliance's data-channel heartbeats (a ping
	// every 5 s while a call is up).
	erin.waitFor("a heartbeat answered", bWait, func(s pageState) bool { return s.Beats > 0 })

	// The counter goes away: the customer is told it is offline.
	e.app.stop(t)
	stopped := time.Now()
	s = erin.waitFor("counter offline", bWait, func(s pageState) bool { return s.State == "counter-offline" })
	e.logf("appliance stopped; page says counter offline %v later", time.Since(stopped).Round(time.Millisecond))
	erin.screenshot("erin-counter-offline")
}

// checkPhoneLayout: on a 390×844 viewport nothing scrolls sideways and the
// call controls are on screen.
func checkPhoneLayout(t *testing.T, tb *tab) {
	t.Helper()
	type layout struct {
		ScrollWidth int     `json:"scrollWidth"`
		Width       int     `json:"width"`
		EndBottom   float64 `json:"endBottom"`
		Height      int     `json:"height"`
	}
	l, err := evalIn[layout](tb, `({scrollWidth: document.documentElement.scrollWidth, width: innerWidth,
	  endBottom: document.getElementById("end").getBoundingClientRect().bottom, height: innerHeight})`)
	if err != nil {
		t.Fatal(err)
	}
	if l.Width != 390 || l.ScrollWidth > l.Width || l.EndBottom > float64(l.Height) || l.EndBottom <= 0 {
		t.Errorf("phone layout: %+v", l)
	}
}

// checkDashboard: an operator logs in on /dashboard and sees the counter
// online, in a call, with what its device:status says.
func checkDashboard(t *testing.T, e *bEnv) {
	t.Helper()
	if _, err := e.hub.h.Store().AddAccount("operator", bPassword, auth.RoleOperator, ""); err != nil {
		t.Fatal(err)
	}
	d := e.openURL("dashboard", e.hub.url()+"/dashboard", "")
	d.do(chromedp.SetValue("#user", "operator"), chromedp.SetValue("#pass", bPassword), chromedp.Click("#login button"))
	type fleet struct {
		State string `json:"state"`
		Polls int    `json:"polls"`
		Row   string `json:"row"`
	}
	deadline := time.Now().Add(bWait)
	for {
		f, err := evalIn[fleet](d, `({state: tetherFleet.state, polls: tetherFleet.polls,
		  row: (document.querySelector('#fleet tr[data-account="`+bCounter+`"]') || {}).innerText || ""})`)
		if err == nil && f.State == "fleet" && f.Polls >= 2 && strings.Contains(f.Row, "online") &&
			strings.Contains(f.Row, "in call") && strings.Contains(f.Row, " ms") &&
			strings.Contains(f.Row, "host") { // the peer's path from device:status
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard: %+v %v", f, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.screenshot("dashboard")
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func containsState(h []string, want string) bool {
	for _, s := range h {
		if s == want {
			return true
		}
	}
	return false
}
