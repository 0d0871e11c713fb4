package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jonboulle/clockwork"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"tether/board/netns"
	"tether/internal/testenv"
)

// Tests against a real polite peer: headless Chromium running
// testdata/customer.html (the W3C Perfect Negotiation example) on
// 127.0.0.1, signalling through CDP. They skip only when no Chromium is
// installed; CI installs Debian's chromium.

// browser is one Chromium tab acting as the customer (or, in the
// namespace benchmark, as the seed's admin page).
type browser struct {
	t   testing.TB
	ctx context.Context
	url string
	id  string // current customer userId; test goroutine only
	// config is the RTCConfiguration the page's next start() uses, as
	// JSON ("" is {}).
	config string
	q      chan queued
	done   chan struct{}

	// dmu serialises delivering a signal and loading a new page, so a
	// signal meant for the page being replaced is never evaluated in the
	// new one (or during the navigation). gen counts pages loaded.
	dmu sync.Mutex
	gen uint64

	emu  sync.Mutex
	errs []string // console.error and uncaught exceptions of the page, in order
}

// pageErrors returns the errors the page reported since the last call.
func (b *browser) pageErrors() []string {
	b.emu.Lock()
	defer b.emu.Unlock()
	e := b.errs
	b.errs = nil
	return e
}

// recordErrors collects what the page reports as errors (console.error,
// uncaught exceptions and rejected promises), so a test can assert the page
// saw none without the page carrying test code.
func (b *browser) recordErrors(ev any) {
	var msg string
	switch e := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type != cdpruntime.ConsoleAPICalledTypeError {
			return
		}
		for _, a := range e.Args {
			if a.Description != "" {
				msg += a.Description + " "
			} else {
				msg += string(a.Value) + " "
			}
		}
	case *cdpruntime.EventExceptionThrown:
		msg = e.ExceptionDetails.Text
		if ex := e.ExceptionDetails.Exception; ex != nil {
			msg += " " + ex.Description
		}
	default:
		return
	}
	b.emu.Lock()
	b.errs = append(b.errs, msg)
	b.emu.Unlock()
}

func newBrowser(t testing.TB, h *hub) *browser {
	t.Helper()
	return newBrowserIn(t, "", "testdata/customer.html", h.fromCustomer)
}

// newBrowserIn starts Chromium showing pageFile. With ns set, Chromium runs
// inside that network namespace (`ip netns exec`), the page is served from
// a listener inside it, so the browser's every packet is subject to the namespace's links and rules.
// Signals the page sends go to onSignal.
func newBrowserIn(t testing.TB, ns, pageFile string, onSignal func(from string, s Signal)) *browser {
	t.Helper()
	path := testenv.RequireChromium(t)
	if ns == "" {
		nonLoopback := false
		for a := range localAddrs(t) {
			if ip := net.ParseIP(a); ip != nil && !ip.IsLoopback() {
				nonLoopback = true
			}
		}
		if !nonLoopback {
			// Chromium offers no loopback candidates; it needs an interface
			// address of this host (traffic to it stays on the host).
			t.Skip("no non-loopback IPv4 address on this host for Chromium's candidates")
		}
	}
	page, err := os.ReadFile(pageFile)
	must(t, err)
	var ln net.Listener
	if ns == "" {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	} else {
		ln, err = netns.Listen(ns, "tcp", "127.0.0.1:0")
	}
	must(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	// The admin page's camera and microphone are Chromium's fake devices.
	opts := testenv.ChromiumOpts(path, t.TempDir())
	if ns != "" {
		// chromedp drives Chromium over a pipe (--remote-debugging-pipe),
		// which `ip netns exec` passes through: the browser lives in ns
		// and the test still talks to it.
		wrapper, err := netns.Wrapper(t.TempDir(), ns, path)
		must(t, err)
		opts = append(opts, chromedp.ExecPath(wrapper))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, url: srv.URL, q: make(chan queued, 4096), done: make(chan struct{})}
	t.Cleanup(func() {
		close(b.q)
		<-b.done
		cancelC()
		cancelA()
	})
	type pageSignal struct {
		ID  string `json:"id"`  // the page's customer id, set by start(id)
		Msg string `json:"msg"` // the signal payload, JSON
	}
	// chromedp runs each call of an exposed func on a goroutine of its
	// own, so two signals the page sends back to back (an answer, then
	// the offer its negotiationneeded makes) could reach the appliance
	// swapped, which a Socket.IO room never does. The page's
	// tetherSignal therefore chains its calls: each waits for the one
	// before to be handled.
	ordered := `(() => {
  let last = Promise.resolve();
  window.tetherSignal = (m) => (last = last.then(() => window.tetherSignalOne(m)).catch((e) => console.error("tetherSignal", e)));
})();`
	must(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: ordered})
		return err
	})))
	must(t, chromedp.Do(ctx, chromedp.ExposeFunc("tetherSignalOne", func(_ context.Context, m pageSignal) (chromedp.Void, error) {
		var s Signal
		if err := json.Unmarshal([]byte(m.Msg), &s); err != nil {
			return chromedp.Void{}, err
		}
		if os.Getenv("TETHER_TEST_LOG") != "" {
			b.t.Logf("chromium %s -> %s", m.ID, m.Msg)
		}
		onSignal(m.ID, s)
		return chromedp.Void{}, nil
	})))
	must(t, chromedp.Listen(ctx, b.recordErrors))
	go b.deliver()
	return b
}

// queued is a signal for the page loaded as generation gen.
type queued struct {
	gen uint64
	s   Signal
}

// post queues s for the page loaded now.
func (b *browser) post(s Signal) {
	b.dmu.Lock()
	g := b.gen
	b.dmu.Unlock()
	b.q <- queued{g, s}
}

// deliver evaluates onSignal for each signal, in order, dropping those
// meant for a page that has been replaced.
func (b *browser) deliver() {
	defer close(b.done)
	for item := range b.q {
		b.dmu.Lock()
		if item.gen == b.gen {
			b.deliverOne(item.s)
		}
		b.dmu.Unlock()
	}
}

func (b *browser) deliverOne(s Signal) {
	msg, err := json.Marshal(s)
	if err != nil {
		b.t.Errorf("marshal signal: %v", err)
		return
	}
	if os.Getenv("TETHER_TEST_LOG") != "" {
		b.t.Logf("chromium <- %s", msg)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void]("onSignal("+string(msg)+")")); err != nil && b.ctx.Err() == nil {
		b.t.Errorf("onSignal: %v", err)
	}
}

// open loads a fresh page (a new RTCPeerConnection) for customer id.
func (b *browser) open(h *hub, id string) { b.t.Helper(); b.openQuery(h, id, "") }

// openQuery is open with a query string for the page ("?media=late").
func (b *browser) openQuery(h *hub, id, query string) {
	b.t.Helper()
	b.dmu.Lock()
	defer b.dmu.Unlock()
	b.gen++
	g := b.gen
	h.mu.Lock()
	delete(h.sinks, b.id) // the old page is going away with its PeerConnection
	b.id = id
	h.sinks[id] = func(s Signal) { b.q <- queued{g, s} }
	h.mu.Unlock()
	must(b.t, chromedp.Do(b.ctx, chromedp.Navigate(b.url+query)))
}

// navigate loads a fresh page (a new RTCPeerConnection).
func (b *browser) navigate() {
	b.t.Helper()
	b.dmu.Lock()
	defer b.dmu.Unlock()
	b.gen++
	must(b.t, chromedp.Do(b.ctx, chromedp.Navigate(b.url)))
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (b *browser) waitFrames(n int) int {
	b.t.Helper()
	got := eval[int](b, fmt.Sprintf("waitFrames(%d, %d)", n, waitLimit.Milliseconds()))
	if got < n {
		b.t.Fatalf("chromium decoded %d frames, want %d", got, n)
	}
	return got
}

// localAddrs returns the IPv4 addresses assigned to this host.
func localAddrs(t testing.TB) map[string]bool {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	must(t, err)
	out := map[string]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			out[ipn.IP.String()] = true
		}
	}
	return out
}

func chromiumHarness(t testing.TB, cut *cutNet, opts ...harnessOption) *harness {
	t.Helper()
	return realNetHarness(t, cut, func(se *webrtc.SettingEngine) {
		// Chromium does not offer loopback candidates, only this
		// host's interface addresses. Talk to it on those, but accept
		// a remote candidate only if its address is assigned to this
		// host, so no packet is ever addressed off the machine.
		local := localAddrs(t)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIPFilter(func(ip net.IP) bool { return local[ip.String()] })
		se.SetRemoteIPFilter(func(ip net.IP) bool { return local[ip.String()] })
	}, opts...)
}

// realNetHarness is an appliance Peer on a real network (the host's, or a
// namespace's through n) with the real clock, for tests against Chromium.
func realNetHarness(t testing.TB, n transport.Net, tweak func(*webrtc.SettingEngine), opts ...harnessOption) *harness {
	t.Helper()
	track := newTestTrack(t)
	h := newHub()
	states := make(chan State, 4096)
	cfg := Config{
		Tracks:            []webrtc.TrackLocal{track.track},
		Signaller:         h.signaller(),
		KeyframeRequester: func() { track.wantKey.Store(true) },
		OnStateChange: func(_, to State) {
			select {
			case states <- to:
			default:
			}
		},
		Clock:  clockwork.NewRealClock(),
		Logger: testenv.Logger(),
		Net:    n,
		tweak:  tweak,
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	must(t, err)
	h.app = p
	r := &harness{tb: t, hub: h, peer: p, states: states, track: track, standbyReady: make(chan struct{}, 1)}
	p.hookStandbyReady = r.onStandbyReady
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// TestChromium: connect and decode; glare against Chromium's real
// rollback; an ICE restart; a customer change measured to the first
// decoded frame.
func TestChromium(t *testing.T) {
	r := chromiumHarness(t, newCutNet(t))
	b := newBrowser(t, r.hub)

	b.open(r.hub, "chromium-1")
	eval[chromedp.Void](b, `start("chromium-1")`)
	r.peer.UserJoined("chromium-1")
	r.waitState(Connected)
	n := b.waitFrames(10)

	// Glare: our ICE restart and the browser's new transceiver cross.
	r.hub.setHold(true)
	r.peer.restartICE()
	eval[chromedp.Void](b, `(pc.addTransceiver("audio", {direction: "recvonly"}), undefined)`)
	for i := 0; i < 2; i++ {
		select {
		case <-r.hub.heldOffers:
		case <-time.After(waitLimit):
			t.Fatal("offers did not cross")
		}
	}
	r.hub.setHold(false)
	if !eval[bool](b, fmt.Sprintf("waitStable(2, %d)", waitLimit.Milliseconds())) {
		t.Fatal("chromium did not settle after glare")
	}
	n = b.waitFrames(n + 10)
	if st := r.syncStats(); st.IgnoredOffers != 1 {
		t.Fatalf("appliance ignored %d offers, want 1", st.IgnoredOffers)
	}
	if e := eval[int](b, "window.errors"); e != 0 {
		t.Fatalf("%d errors in the page", e)
	}

	// An ICE restart on request: frames keep coming.
	r.drainStates()
	r.peer.restartICE()
	r.waitState(Connected)
	n = b.waitFrames(n + 10)

	// Customer change: the browser leaves, a new page joins.
	b.open(r.hub, "chromium-2") // the old page (and its PeerConnection) is gone
	r.peer.CallEnded("chromium-1")
	r.waitState(Waiting)
	r.waitStandby()
	eval[chromedp.Void](b, `start("chromium-2")`)
	t0 := time.Now()
	r.peer.UserJoined("chromium-2")
	if !eval[bool](b, fmt.Sprintf("waitFirstFrame(%d)", waitLimit.Milliseconds())) {
		t.Fatal("no frame after the customer change")
	}
	t.Logf("customer change, room:user:joined -> first decoded frame in Chromium: %v", time.Since(t0))
	b.waitFrames(10)
}

func (b *browser) startExpr(id string) string {
	if b.config == "" {
		return fmt.Sprintf("start(%q)", id)
	}
	return fmt.Sprintf("start(%q, %s)", id, b.config)
}

func (b *browser) join(r *harness, id string) {
	b.t.Helper()
	b.open(r.hub, id)
	eval[chromedp.Void](b, b.startExpr(id))
	r.peer.UserJoined(id)
	r.waitState(Connected)
}

// TestChromiumPathCut: the appliance's UDP path to a real Chromium dies
// (every datagram dropped at the appliance's sockets); the appliance notices
// within the ICE timers, restarts ICE with Chromium answering as the polite
// peer, and once the path is back Chromium decodes frames again.
func TestChromiumPathCut(t *testing.T) {
	cut := newCutNet(t)
	r := chromiumHarness(t, cut)
	b := newBrowser(t, r.hub)
	b.join(r, "chromium-1")
	n := b.waitFrames(10)

	cut.cut.Store(true)
	t0 := time.Now()
	r.waitState(Degraded)
	t.Logf("dead path noticed after %v", time.Since(t0))
	r.waitState(Restarting)
	t.Logf("ICE restart began after %v", time.Since(t0))
	cut.cut.Store(false)
	t1 := time.Now()
	b.waitFrames(n + 1)
	t.Logf("path restored -> Chromium decodes again: %v", time.Since(t1))
	r.waitState(Connected)
	b.waitFrames(n + 10)
}

// BenchmarkChromiumICERestart: against a real Chromium, path cut ->
// Degraded, and path restored (the moment the restart begins) -> the next
// frame decoded by Chromium.
//
//	go test -run XXX -bench Chromium -benchtime 5x ./appliance/peer/
func BenchmarkChromiumICERestart(b *testing.B) {
	cut := newCutNet(b)
	r := chromiumHarness(b, cut)
	br := newBrowser(b, r.hub)
	br.join(r, "chromium-1")
	n := br.waitFrames(10)
	var det, rst []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.drainStates()
		cut.cut.Store(true)
		t0 := time.Now()
		r.waitState(Degraded)
		det = append(det, time.Since(t0))
		r.waitState(Restarting)
		n = eval[int](br, "framesDecoded()")
		cut.cut.Store(false)
		t1 := time.Now()
		n = br.waitFrames(n + 1)
		rst = append(rst, time.Since(t1))
		r.waitState(Connected)
		n = br.waitFrames(n + 5)
	}
	b.StopTimer()
	b.ReportMetric(ms(testenv.Median(det)), "detect_ms")
	b.ReportMetric(ms(testenv.Median(rst)), "restart_ms")
}

// TestChromiumHeartbeat: Chromium gets the heartbeat as text and echoes it
// on the negotiated channel: pongs come back and give an RTT. (A pong later
// than the next beat counts as lost, so a loaded CI machine may lose some.)
func TestChromiumHeartbeat(t *testing.T) {
	r := chromiumHarness(t, newCutNet(t), func(c *Config) { c.HeartbeatInterval = 300 * time.Millisecond })
	b := newBrowser(t, r.hub)
	b.join(r, "chromium-1")
	b.waitFrames(30)
	st := r.syncStats()
	t.Logf("beats sent %d lost %d rtt %v; page saw %d", st.BeatsSent, st.BeatsLost, st.RTT, eval[int](b, "window.pings || 0"))
	t.Logf("page error: %s", eval[string](b, "String(window.hbErr || '')"))
	if st.BeatsSent < 3 || st.BeatsLost*2 >= st.BeatsSent || st.RTT <= 0 {
		t.Fatalf("heartbeat: sent %d lost %d", st.BeatsSent, st.BeatsLost)
	}
}
