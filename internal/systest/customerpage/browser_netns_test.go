package customerpage_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/board/netns"
	"tether/internal/testenv"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

// The whole system across network namespaces, as in the field: the real
// tetherd binary in A (the shop), a Chromium customer on the hub's page in
// B (a phone), and in R between them the hub with its embedded TURN server
// (the Internet and our server). Faults are cut in R's FORWARD chain, so
// the hub and TURN stay reachable while the direct path between the two
// ends dies or loses UDP.

// TestBrowserNetnsSystem: tetherd in A, a Chromium customer in B, the hub
// and TURN in R. The customer sees the counter through 10 % random loss;
// the network between A and B dies while the hub stays reachable, and the
// call moves to the TURN relay the hub handed out in session:verify (both
// ends hold relay candidates here, the case where pion alone would keep
// calling the dead host pair alive: see appliance/peer/consent.go); then
// the shop's cable is pulled and put back (ICE restarts until it is,
// frames again, nobody reloads); last, a second phone queues and is
// served when the first ends the call.
func TestBrowserNetnsSystem(t *testing.T) {
	bin := requireBrowser(t)
	topo := netns.NewRouted(t)
	dir := t.TempDir()
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%6.2fs] "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}

	// The hub in R, on R's address towards A (B reaches it through R).
	ln, err := netns.Listen(topo.R, "tcp4", topo.AddrRA+":0")
	if err != nil {
		t.Fatal(err)
	}
	hubURL := "http://" + ln.Addr().String()
	relayNet, err := netns.NewPionNet(topo.R)
	if err != nil {
		t.Fatal(err)
	}
	var h *hub.Hub
	// New opens the TURN listener: inside R. Relays open later through Net.
	err = netns.Do(topo.R, func() (err error) {
		h, err = hub.New(hub.Config{Listen: "127.0.0.1:0", DataPath: filepath.Join(dir, "hub.db"), KDF: testenv.KDF,
			PublicURL: hubURL, AdminSocket: "-", Logger: testenv.Logger(),
			// The namespaces use 10/8, which a public hub's relay refuses.
			TURN: hub.TURNConfig{UDP: topo.AddrRA + ":3478", PublicIP: topo.AddrRA, Net: relayNet,
				AllowPeers: []string{"10.0.0.0/8"}}})
		return err
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(ctx) }()
	srv := &http.Server{Handler: pageHandler(filepath.Join(webDir, "dist"), h.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		cancel()
		<-hubDone
		_ = srv.Close()
	})
	if _, err := h.Store().AddAccount(bCounter, bPassword, auth.RoleCounter, bCounter); err != nil {
		t.Fatal(err)
	}
	inv, err := h.Store().NewInvite(bCounter, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	app := testenv.StartTetherd(t, testenv.TetherdConfig{NS: topo.A, Hub: hubURL, Dir: dir, User: bCounter, Password: bPassword})
	logf("tetherd started in %s", topo.A)

	// Chromium in B. The page is not on localhost there, so it is told the
	// hub's origin is secure (getUserMedia needs a secure context).
	wrapper, err := netns.Wrapper(dir, topo.B, bin)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(testenv.ChromiumOpts(wrapper, dir),
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", hubURL))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium in %s: %v", topo.B, err)
	}
	e := &bEnv{t: t, bctx: bctx, dir: dir, start: start}
	cust := e.openURL("phone", hubURL+"/c/"+inv.Code+"?name=phone", "")
	app.WaitState("connected", 2*bWait)
	s := cust.waitMedia(bWait)
	logf("customer in B decodes the counter from A (%d frames)", s.Stats.FramesDecoded)
	if got := app.Metric("tether_peer_relay"); got != "0" {
		t.Fatalf("tether_peer_relay = %q with a direct path open, want 0", got)
	}

	// 10 % of the packets between A and B are lost for a while: the call
	// goes on (NACK/PLI and the next keyframe cover the holes).
	undoLoss := topo.LossForward(0.10)
	lossFrom, err := cust.state()
	if err != nil {
		t.Fatal(err)
	}
	cust.waitFor("frames under 10% loss", bWait, func(s pageState) bool {
		return s.Stats.FramesDecoded > lossFrom.Stats.FramesDecoded+30
	})
	undoLoss()
	logf("10%% loss: frames kept coming")

	// The network between A and B dies (R forwards nothing) while the hub
	// and its TURN server in R stay reachable: the call moves to the relay
	// the hub handed out in session:verify.
	app.Drain()
	mark := app.ConsoleMark()
	undo := topo.DropForward()
	t2 := time.Now()
	app.WaitState("restarting", bWait)
	logf("path cut -> ICE restart after %v", time.Since(t2).Round(time.Millisecond))
	app.WaitState("connected", 2*bWait)
	before, err := cust.state()
	if err != nil {
		t.Fatal(err)
	}
	cust.waitFor("frames through the relay", bWait, func(s pageState) bool {
		return s.State == "connected" && s.Stats.FramesDecoded > before.Stats.FramesDecoded+5
	})
	logf("path cut -> frames through TURN after %v", time.Since(t2).Round(time.Millisecond))
	if got := app.Metric("tether_peer_relay"); got != "1" {
		t.Fatalf("tether_peer_relay = %q with the direct path cut, want 1", got)
	}
	// The field tech saw it on the serial console.
	app.WaitConsole(mark, bWait, "| peer restarting")
	logf("console: %s", app.WaitConsole(mark, bWait, "| peer connected relay"))
	logf("selected pair seen dead while ICE said connected: %s time(s)", app.Metric("tether_peer_consent_lost_total"))
	undo() // the call stays on the relay: pion does not renominate

	// The shop's cable is pulled: hub, TURN and customer all gone. The
	// appliance restarts ICE endlessly; when the cable is back its socket
	// reconnects and the next restart brings the picture back.
	app.Drain()
	mark = app.ConsoleMark()
	topo.LinkDown()
	t0 := time.Now()
	app.WaitState("degraded", bWait)
	logf("cable pulled -> appliance degraded after %v", time.Since(t0).Round(time.Millisecond))
	app.WaitState("restarting", bWait)
	logf("cable pulled -> ICE restart after %v", time.Since(t0).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // an outage past the first backoff steps
	before, err = cust.state()
	if err != nil {
		t.Fatal(err)
	}
	topo.LinkUp()
	t1 := time.Now()
	cust.waitFor("frames again", 2*bWait, func(s pageState) bool { return s.Stats.FramesDecoded > before.Stats.FramesDecoded })
	logf("cable back -> frames decoded again after %v", time.Since(t1).Round(time.Millisecond))
	app.WaitState("connected", bWait)
	app.WaitConsole(mark, bWait, "no-network")
	app.WaitConsole(mark, bWait, "| peer restarting")
	logf("console: %s", app.WaitConsole(mark, bWait, "in-call", "| peer connected"))

	if s, _ := cust.state(); s.State != "connected" {
		t.Fatalf("customer page state %q, want connected", s.State)
	}

	// Customer change across the namespaces: a second phone queues, the
	// first ends the call, the second gets the counter from the standby
	// connection the appliance rebuilt after the path recovered.
	next := e.openURL("phone-2", hubURL+"/c/"+inv.Code+"?name=phone-2", "")
	next.waitFor("queued behind phone", bWait, func(s pageState) bool { return s.State == "queued" })
	ctx2, cancel2 := context.WithTimeout(cust.ctx, bWait)
	err = chromedp.Do(ctx2, chromedp.Click("#end"))
	cancel2()
	if err != nil {
		t.Fatal(err)
	}
	t3 := time.Now()
	s = next.waitMedia(bWait)
	logf("customer change: end -> next customer's first decoded frame in %v", time.Since(t3).Round(time.Millisecond))
	if s.Calls != 1 {
		t.Errorf("phone-2 joined %d times, want once (promoted in place)", s.Calls)
	}
}
