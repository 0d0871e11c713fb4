package systest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"tether/board/netns"
	"tether/internal/testenv"
)

const (
	// wait bounds one step of a scenario (a reconnect, a login, a call).
	wait = 20 * time.Second
	// frameWait bounds one customer change: join → first decoded frame.
	frameWait = 15 * time.Second
	setupAddr = "127.0.0.1:8080"
	setupPW   = "systest setup password"
)

// The accounts and invites of every world: two counters in two rooms.
var (
	counterA = account{Username: "counter-a", Password: "password a", DeviceID: "dev-counter-a", RoomID: "room-a"}
	counterB = account{Username: "counter-b", Password: "password b", DeviceID: "dev-counter-b", RoomID: "room-b"}
	invites  = map[string]string{"invite-a": "room-a", "invite-b": "room-b"}
)

// world is the whole product against the reference server: the real
// tetherd in namespace A (the shop), the reference server and a headless
// Chromium (the customers' phones) in namespace B, one veth between them.
// Chromium opens the server's pages on B's loopback (a secure context for
// getUserMedia); tetherd dials B's address.
type world struct {
	t     testing.TB
	topo  *netns.Pair
	ref   *refServer
	app   *testenv.Tetherd
	bctx  context.Context
	dir   string
	start time.Time
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldArgs(t)
}

// newWorldArgs is newWorld with more tetherd flags (e.g. "-speaker",
// "test").
func newWorldArgs(t testing.TB, more ...string) *world {
	t.Helper()
	bin := testenv.RequireChromium(t)
	requireRefServer(t)
	topo := netns.NewPair(t)
	dir := t.TempDir()
	w := &world{t: t, topo: topo, dir: dir, start: time.Now()}
	w.ref = startRefServer(t, topo.B, refOptions{Host: "0.0.0.0", Accounts: []account{counterA, counterB},
		Invites: invites, StateFile: filepath.Join(dir, "refserver.json"), LeaveGraceMs: 5000, OwnPageDir: ownPageDir()})
	args := append([]string{"-setup-addr", setupAddr}, more...)
	// TETHER_W3C_LOG_LEVEL=debug: a failed customer change then dumps
	// tetherd's debug log of that change (pion's too).
	if l := os.Getenv("TETHER_W3C_LOG_LEVEL"); l != "" {
		args = append(args, "-log-level", l)
	}
	w.app = testenv.StartTetherd(t, testenv.TetherdConfig{NS: topo.A, Hub: w.hub(), Dir: dir,
		User: counterA.Username, Password: counterA.Password, Args: args})

	wrapper, err := netns.Wrapper(dir, topo.B, bin)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), testenv.ChromiumOpts(wrapper, dir)...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(bctx); err != nil { // start the browser without a timeout (it would end it)
		t.Fatalf("start chromium in %s: %v", topo.B, err)
	}
	w.bctx = bctx
	return w
}

// ownPageDir is Tether's built customer page (signaling/hub/web/dist,
// `make web`), or "" when it is not built.
func ownPageDir() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "signaling", "hub", "web", "dist")
	for _, f := range []string{"index.html", "app.js"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return ""
		}
	}
	return dir
}

// hub is the reference server's URL as tetherd sees it.
func (w *world) hub() string { return w.ref.url(w.topo.AddrB) }

func (w *world) logf(format string, args ...any) {
	w.t.Helper()
	w.t.Logf("[%6.2fs] "+format, append([]any{time.Since(w.start).Seconds()}, args...)...)
}

// metric reads a counter from tetherd's /metrics.
func (w *world) metric(name string) int {
	w.t.Helper()
	v, err := strconv.ParseFloat(w.app.Metric(name), 64)
	if err != nil {
		w.t.Fatalf("tetherd metric %s: %v", name, err)
	}
	return int(v)
}

// deviceJoined matches the counter's successful room:join of room.
func deviceJoined(a account) func(event) bool {
	return func(e event) bool {
		return e.Ev == "room:join" && e.Role == "device" && e.OK && e.RoomID == a.RoomID && e.UserID == a.DeviceID
	}
}

// waitInRoom waits until the counter has verified and joined a's room
// after mark, and returns the join.
func (w *world) waitInRoom(mark int, a account) event {
	w.t.Helper()
	w.ref.waitEvent(mark, "session:verify by "+a.Username, wait, func(e event) bool {
		return e.Ev == "session:verify" && e.OK && e.Username == a.Username
	})
	return w.ref.waitEvent(mark, "room:join of "+a.RoomID+" by the counter", wait, deviceJoined(a))
}

// ---- customers ----

// pageState is what the W3C page exposes as window.w3c.
type pageState struct {
	State        string   `json:"state"`
	UserID       string   `json:"userId"`
	DeviceID     string   `json:"deviceId"`
	Position     int      `json:"position"`
	FirstFrameAt float64  `json:"firstFrameAt"` // ms since the epoch
	Offers       int      `json:"offers"`
	Answers      int      `json:"answers"`
	Errors       []string `json:"errors"`
	Log          []string `json:"log"`
}

// customer is one phone: a Chromium tab on the W3C page.
type customer struct {
	w      *world
	name   string
	own    bool // Tether's own page
	ctx    context.Context
	cancel context.CancelFunc

	cmu     sync.Mutex
	console []string // the tab's console output and uncaught exceptions
}

// maxConsole bounds what one tab's console keeps.
const maxConsole = 500

// record keeps the tab's console output, shown when its change fails.
func (c *customer) record(ev any) {
	var msg string
	switch e := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		msg = string(e.Type) + ":"
		for _, a := range e.Args {
			if a.Description != "" {
				msg += " " + a.Description
			} else {
				msg += " " + string(a.Value)
			}
		}
	case *cdpruntime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if ex := e.ExceptionDetails.Exception; ex != nil {
			msg += " " + ex.Description
		}
	default:
		return
	}
	c.cmu.Lock()
	if len(c.console) < maxConsole {
		c.console = append(c.console, time.Now().Format("15:04:05.000")+" "+msg)
	}
	c.cmu.Unlock()
}

// ownPage is the variant name of Tether's own customer page, the
// benchmark's baseline.
const ownPage = "tether"

// open loads the W3C page for invite in variant (or, for ownPage, Tether's
// own page) in a new tab.
func (w *world) open(name, invite, variant string) (*customer, error) {
	ctx, cancel := chromedp.NewContext(w.bctx)
	c := &customer{w: w, name: name, ctx: ctx, cancel: cancel, own: variant == ownPage}
	// Listen opens the tab, which lives as long as ctx.
	if err := chromedp.Listen(ctx, c.record); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: new tab: %w", name, err)
	}
	q := url.Values{"invite": {invite}, "room": {invites[invite]}, "name": {name}, "variant": {variant}}
	u := fmt.Sprintf("http://127.0.0.1:%d/w3c.html?%s", w.ref.opts.Port, q.Encode())
	if variant == ownPage {
		u = fmt.Sprintf("http://127.0.0.1:%d/c/%s?name=%s", w.ref.opts.Port, invite, url.QueryEscape(name))
	}
	rctx, rcancel := context.WithTimeout(ctx, wait)
	defer rcancel()
	if err := chromedp.Do(rctx, chromedp.Navigate(u)); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: open %s: %w", name, u, err)
	}
	return c, nil
}

func eval[T any](c *customer, expr string) (T, error) {
	return evalWithin[T](c, expr, 5*time.Second)
}

func evalWithin[T any](c *customer, expr string, d time.Duration) (T, error) {
	ctx, cancel := context.WithTimeout(c.ctx, d)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// ownFirstFrame waits inside Tether's own page, polling its getStats
// summary every 5 ms, for the first decoded frame and says when it was
// seen (ms since the epoch, 0 when not within the limit) and the page's
// userId.
const ownFirstFrame = `(async (ms) => {
  const end = performance.now() + ms;
  for (;;) {
    const T = window.tether;
    if (T && T.state === "connected" && (await T.stats()).framesDecoded > 0)
      return {firstFrameAt: performance.timeOrigin + performance.now(), userId: T.userId, state: T.state};
    if (performance.now() > end) return {firstFrameAt: 0, userId: T ? T.userId : "", state: T ? T.state : ""};
    await new Promise((r) => setTimeout(r, 5));
  }
})(%d)`

// ownChange is change for Tether's own page.
func (w *world) ownChange(c *customer) (time.Duration, error) {
	s, err := evalWithin[pageState](c, fmt.Sprintf(ownFirstFrame, frameWait.Milliseconds()), frameWait+5*time.Second)
	if err != nil || s.FirstFrameAt == 0 {
		return 0, fmt.Errorf("%s: no decoded frame within %v (err %v, state %q)", c.name, frameWait, err, s.State)
	}
	join, err := w.customerJoin(s.UserID)
	if err != nil {
		return 0, err
	}
	return time.Duration((s.FirstFrameAt - join.T) * float64(time.Millisecond)), nil
}

// customerJoin is the server's record of userID's successful room:join.
func (w *world) customerJoin(userID string) (event, error) {
	w.ref.fetch()
	join, ok := w.ref.findLast(func(e event) bool {
		return e.Ev == "room:join" && e.Role == "customer" && e.UserID == userID && e.OK
	})
	if !ok {
		return event{}, fmt.Errorf("no room:join of %q in the server's log", userID)
	}
	return join, nil
}

func (c *customer) state() (pageState, error) { return eval[pageState](c, "window.w3c") }

// waitFrame waits for the counter's first decoded frame and then for
// framesDecoded to grow (the picture is live, not one frame).
func (c *customer) waitFrame(within time.Duration) (pageState, error) {
	deadline := time.Now().Add(within)
	var s pageState
	var err error
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s, err = c.state(); err == nil && s.FirstFrameAt > 0 {
			break
		}
	}
	if s.FirstFrameAt == 0 {
		j, _ := json.Marshal(s)
		return s, fmt.Errorf("%s: no decoded frame within %v (err %v); page: %s", c.name, within, err, j)
	}
	first, err := eval[int](c, "framesDecoded()")
	if err != nil {
		return s, err
	}
	for ; time.Now().Before(deadline.Add(5 * time.Second)); time.Sleep(50 * time.Millisecond) {
		if n, err := eval[int](c, "framesDecoded()"); err == nil && n > first {
			return s, nil
		}
	}
	return s, fmt.Errorf("%s: framesDecoded stuck at %d", c.name, first)
}

// leave ends the call from the page (call:ended, then the socket closes)
// and closes the tab.
func (c *customer) leave() {
	defer c.cancel()
	if !c.own {
		_, _ = eval[bool](c, "leave()")
		return
	}
	// Tether's page: its End button, then the tab closes once the server
	// has the call:ended (a closed tab would hold the room for the
	// recovery grace).
	mark := c.w.ref.mark()
	userID, _ := eval[string](c, `(document.getElementById("end").click(), window.tether.userId)`)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c.w.ref.fetch()
		if _, ok := c.w.ref.find(mark, func(e event) bool { return e.Ev == "call:ended" && e.UserID == userID }); ok {
			return
		}
	}
}

// change is one customer change: a new customer opens the page, the time
// from its room:join at the server to its first decoded frame is measured,
// and it leaves. A failed change logs everything about it: tetherd's log
// from the page's opening on, the server's events and the tab's console.
func (w *world) change(name, invite, variant string) (time.Duration, error) {
	logMark, refMark := w.app.LogMark(), w.ref.mark()
	tracks, terr := w.customerTracks()
	c, err := w.open(name, invite, variant)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	d, err := w.measure(c)
	if err == nil && variant != "none" && terr == nil {
		err = w.waitCustomerTracks(name, tracks+2)
	}
	if err != nil {
		c.cmu.Lock()
		console := strings.Join(c.console, "\n")
		c.cmu.Unlock()
		if !c.own {
			diag, derr := eval[json.RawMessage](c, "diag()")
			console += fmt.Sprintf("\ndiag() %s %v", diag, derr)
		}
		w.t.Logf("==== failed change %s: tetherd log since the page opened:\n%s\n==== server events:\n%s\n==== page console:\n%s\n==== end of %s",
			name, strings.Join(w.app.LogSince(logMark), "\n"), w.ref.dump(refMark), console, name)
	}
	return d, err
}

// customerTracks reads tether_peer_customer_tracks_total, retrying a read
// that a loaded box timed out.
func (w *world) customerTracks() (int, error) {
	var err error
	for range 3 {
		var v string
		if v, err = w.app.MetricErr("tether_peer_customer_tracks_total"); err == nil {
			f, perr := strconv.ParseFloat(v, 64)
			return int(f), perr
		}
	}
	return 0, err
}

// waitCustomerTracks waits until tetherd has received want of the
// customers' tracks in all: the customer's camera and microphone reach the
// counter (issue 15), on the first answer or, for a page that adds them
// late, its next offer.
func (w *world) waitCustomerTracks(name string, want int) error {
	got := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n, err := w.customerTracks(); err == nil {
			if got = n; got >= want {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: tetherd received %d of the customer's 2 tracks", name, 2-(want-got))
}

// measure waits for c's first decoded frame and its negotiation settling.
func (w *world) measure(c *customer) (time.Duration, error) {
	name := c.name
	if c.own {
		return w.ownChange(c)
	}
	s, err := c.waitFrame(frameWait)
	if err != nil {
		return 0, err
	}
	first := s.FirstFrameAt
	join, err := w.customerJoin(s.UserID)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	// The customer's own tracks must reach the counter too: negotiation
	// settles with every added track sent, and nothing failed on the way.
	settled := false
	for deadline := time.Now().Add(5 * time.Second); !settled && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		settled, _ = eval[bool](c, "settled()")
	}
	if s, err = c.state(); err != nil {
		return 0, err
	}
	if len(s.Errors) > 0 || !settled {
		return 0, fmt.Errorf("%s: picture, but negotiation settled=%v, page errors %q; page log %q", name, settled, s.Errors, s.Log)
	}
	return time.Duration((first - join.T) * float64(time.Millisecond)), nil
}

// ---- the setup page, as a field tech uses it from a laptop ----

// setupLogin logs the counter in to the hub as a through its setup page
// (choose the setup password the first time, then "hub login").
func (w *world) setupLogin(a account) {
	w.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: wait, Jar: jar, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return netns.DialTimeout(w.topo.A, network, addr, 5*time.Second)
		},
		// The page's own certificate, trusted by the fingerprint on the
		// serial console, as a field tech does.
		TLSClientConfig: testenv.PinnedTLS(w.app.SetupFingerprint()),
	}}
	base := "https://" + setupAddr
	call := func(method, path, csrf string, form url.Values) map[string]any {
		w.t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		if err != nil {
			w.t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			w.t.Fatalf("setup page %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		if resp.StatusCode != 200 && !(path == "/api/password" && resp.StatusCode == http.StatusConflict) {
			w.t.Fatalf("setup page %s: %s: %s", path, resp.Status, b)
		}
		v["status"] = float64(resp.StatusCode)
		return v
	}
	var st map[string]any
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		// The setup page may still be starting.
		if _, err := netns.DialTimeout(w.topo.A, "tcp", setupAddr, time.Second); err == nil || time.Now().After(deadline) {
			break
		}
	}
	st = call("GET", "/api/state", "", nil)
	csrf, _ := st["csrf"].(string)
	pw := url.Values{"password": {setupPW}, "confirm": {setupPW}}
	if r := call("POST", "/api/password", csrf, pw); r["status"] == float64(200) {
		csrf, _ = r["csrf"].(string)
	} else {
		r = call("POST", "/api/login", csrf, url.Values{"password": {setupPW}})
		csrf, _ = r["csrf"].(string)
	}
	call("POST", "/api/hub-login", csrf, url.Values{"hubUrl": {w.hub()}, "username": {a.Username}, "password": {a.Password}})
}
