package customerpage_test

// The browser tests' harness: the customer page built with npm
// (signaling/hub/web), a hub on a fixed loopback port that can be stopped
// and started again on the same data file, the real appliance
// (tether/appliance on the sim board with test sources) as the counter, and
// Debian's headless Chromium with fake camera and microphone as customers.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tether/appliance"
	"tether/appliance/peer"
	"tether/internal/testenv"
	"tether/internal/testenv/testhub"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

const (
	bCounter  = "counter-b"
	bPassword = "browser test password"
	// wait bounds a start, a stop or a login (not a behaviour wait).
	wait = 10 * time.Second
	// bNpmTimeout bounds `npm run build`.
	bNpmTimeout = 5 * time.Minute
)

var (
	webOnce sync.Once
	webDir  string // signaling/hub/web, absolute
	webSkip string // non-empty: why every browser test skips
)

// webFresh reports whether dist holds a build newer than every source,
// package.json, the lockfile and the build script (the Makefile's `web`
// target uses the same rule).
func webFresh(dir string) bool {
	out, err := os.Stat(filepath.Join(dir, "dist", "app.js"))
	if err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "index.html")); err != nil {
		return false
	}
	newer := false
	check := func(p string) {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(out.ModTime()) {
			newer = true
		}
	}
	check(filepath.Join(dir, "package-lock.json"))
	check(filepath.Join(dir, "build.mjs"))
	check(filepath.Join(dir, "package.json"))
	_ = filepath.WalkDir(filepath.Join(dir, "src"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			check(p)
		}
		return nil
	})
	return !newer
}

// buildWeb runs once per test process: `npm ci` when node_modules is
// missing or older than the lockfile (testenv.NPMInstall), then `npm run
// build` when dist is stale, under a cross-process file lock.
func buildWeb() {
	wd, err := os.Getwd()
	if err != nil {
		webSkip = err.Error()
		return
	}
	// This package is internal/systest/customerpage; the page is the hub's.
	webDir = filepath.Join(wd, "..", "..", "..", "signaling", "hub", "web")
	if _, err := os.Stat(filepath.Join(webDir, "package.json")); err != nil {
		webSkip = "web/package.json not found"
		return
	}
	unlock, err := testenv.LockFile(filepath.Join(os.TempDir(), "tether-hub-web.lock"))
	if err != nil {
		webSkip = err.Error()
		return
	}
	defer unlock()
	if webFresh(webDir) {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		webSkip = "the customer page is not built (web/dist) and npm is not installed: run `make web`"
		return
	}
	if err := testenv.NPMInstall(webDir); err != nil {
		webSkip = err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bNpmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "run", "build")
	cmd.Dir = webDir
	if out, err := cmd.CombinedOutput(); err != nil {
		webSkip = fmt.Sprintf("npm run build in %s: %v: %s", webDir, err, strings.TrimSpace(string(out)))
	}
}

// requireBrowser skips unless Chromium and the built page are available.
func requireBrowser(t *testing.T) string {
	t.Helper()
	bin := testenv.RequireChromium(t)
	webOnce.Do(buildWeb)
	if webSkip != "" {
		t.Skip(webSkip)
	}
	return bin
}

// pageHandler serves the customer page from web/dist on disk (the test
// binary may have been compiled before `npm run build`, so the embedded
// copy can be missing or stale) with the hub's routing: a file if one
// exists, the hub's API and Socket.IO, else index.html.
func pageHandler(dist string, api http.Handler) http.Handler {
	files := http.FileServer(http.Dir(dist))
	// The pages get the hub's security headers (Content-Security-Policy
	// above all), so the browser tests run the page under them.
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		switch {
		case strings.HasPrefix(p, "/socket.io"), strings.HasPrefix(p, "/api/"), strings.HasSuffix(p, "/qr.png"),
			p == "/metrics", p == "/healthz":
			api.ServeHTTP(w, r)
			return
		}
		for _, k := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options"} {
			w.Header().Set(k, rec.Header().Get(k))
		}
		if st, err := os.Stat(filepath.Join(dist, filepath.FromSlash(p))); err == nil && !st.IsDir() && !strings.HasPrefix(path.Base(p), ".") {
			files.ServeHTTP(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(dist, "index.html"))
	})
}

// bHub is a hub plus the HTTP server in front of it, on a fixed address
// and data file so it can be restarted like a real one.
type bHub struct {
	t       *testing.T
	addr    string
	data    string
	wrap    func(http.Handler) http.Handler
	h       *testhub.Hub
	srv     *http.Server
	srvDone chan struct{}
}

func startBHub(t *testing.T, addr, data string, wrap func(http.Handler) http.Handler) *bHub {
	t.Helper()
	ln := testenv.Listen(t, addr)
	url := "http://" + ln.Addr().String()
	// The hub listens on a port of its own; the page and the hub's handler
	// are served on ln by srv.
	h := testhub.Start(t, hub.Config{DataPath: data, PublicURL: url})
	var handler http.Handler = pageHandler(filepath.Join(webDir, "dist"), h.Handler())
	if wrap != nil {
		handler = wrap(handler)
	}
	b := &bHub{t: t, addr: ln.Addr().String(), data: data, wrap: wrap, h: h, srvDone: make(chan struct{}),
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}}
	go func() { defer close(b.srvDone); _ = b.srv.Serve(ln) }()
	t.Cleanup(b.stop)
	return b
}

func (b *bHub) url() string { return "http://" + b.addr }

// stop ends the hub (its Socket.IO server closes every socket) and the
// HTTP server in front of it (pending polling requests).
func (b *bHub) stop() {
	if b.srv == nil {
		return
	}
	b.h.Stop()
	_ = b.srv.Close()
	<-b.srvDone
	b.srv = nil
}

// bApp is the real appliance logged in to the hub as bCounter.
type bApp struct {
	a      *appliance.App
	cancel context.CancelFunc
	done   chan error
}

func startBApp(t *testing.T, hubURL, dir string, deps func(*appliance.Deps)) *bApp {
	t.Helper()
	fset := flag.NewFlagSet("tetherd", flag.ContinueOnError)
	appliance.RegisterFlags(fset)
	for k, v := range map[string]string{"board": "sim", "hub": hubURL, "data": filepath.Join(dir, "tetherd.db"),
		"setup-addr": "", "metrics-addr": "", "camera": "test", "mic": "test",
		"width": "320", "height": "180", "fps": "15", "bitrate": "300"} {
		if err := fset.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := appliance.Resolve(fset, func(string) string { return "" }, func(string) ([]byte, error) { return nil, os.ErrNotExist }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := appliance.Deps{
		Logger: testenv.Logger(),
		// Everything is on loopback here.
		PeerConfig: func(c *peer.Config) { c.IncludeLoopback = true },
	}
	if deps != nil {
		deps(&d)
	}
	a, err := appliance.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lctx, lcancel := context.WithTimeout(ctx, wait)
	_, err = a.Login(lctx, hubURL, bCounter, bPassword)
	lcancel()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ba := &bApp{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ba.done <- a.Run(ctx) }()
	t.Cleanup(func() { ba.stop(t) })
	return ba
}

// stop ends the appliance's Run and waits for it.
func (ba *bApp) stop(t *testing.T) {
	if ba.cancel == nil {
		return
	}
	ba.cancel()
	ba.cancel = nil
	select {
	case <-ba.done:
	case <-time.After(2 * wait):
		t.Error("appliance did not stop")
	}
}

// bEnv is one browser test's world.
type bEnv struct {
	t      *testing.T
	hub    *bHub
	app    *bApp
	invite string
	dir    string
	bctx   context.Context // the browser; tabs derive from it
	start  time.Time
}

// logf logs with the time since the environment started.
func (e *bEnv) logf(format string, args ...any) {
	e.t.Helper()
	e.t.Logf("[%6.2fs] "+format, append([]any{time.Since(e.start).Seconds()}, args...)...)
}

func newBEnv(t *testing.T, wrap func(http.Handler) http.Handler) *bEnv {
	t.Helper()
	return newBEnvWith(t, bOpts{wrap: wrap})
}

// bOpts change a browser test's world: wrap the hub's HTTP handler, the
// appliance's Deps, and add Chromium flags.
type bOpts struct {
	wrap  func(http.Handler) http.Handler
	deps  func(*appliance.Deps)
	flags map[string]any
}

func newBEnvWith(t *testing.T, o bOpts) *bEnv {
	t.Helper()
	wrap := o.wrap
	bin := requireBrowser(t)
	dir := t.TempDir()
	bh := startBHub(t, "127.0.0.1:0", filepath.Join(dir, "hub.db"), wrap)
	st := bh.h.Store()
	if _, err := st.AddAccount(bCounter, bPassword, auth.RoleCounter, bCounter); err != nil {
		t.Fatal(err)
	}
	inv, err := st.NewInvite(bCounter, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := &bEnv{t: t, hub: bh, invite: inv.Code, dir: dir}
	t.Cleanup(func() { e.logf("cleanup done") }) // runs last
	e.start = time.Now()
	e.app = startBApp(t, bh.url(), dir, o.deps)

	opts := append(testenv.ChromiumOpts(bin, dir),
		// The appliance offers loopback candidates; let Chromium gather and
		// show its own as plain addresses (no mDNS names) on 127.0.0.1.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	for k, v := range o.flags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // start the browser, without a timeout (it would end the browser)
		cancelB()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	e.bctx = bctx
	t.Cleanup(func() {
		cancelB()
		cancelA()
	})
	return e
}

// tab is one customer in its own Chromium tab.
type tab struct {
	e    *bEnv
	name string
	ctx  context.Context
}

// open starts a customer at the invite link with query (e.g.
// "transports=polling").
func (e *bEnv) open(name, query string) *tab {
	e.t.Helper()
	url := e.hub.url() + "/c/" + e.invite + "?name=" + name
	if query != "" {
		url += "&" + query
	}
	return e.openURL(name, url, "")
}

// openURL opens url in a new tab on a phone-sized viewport (390×844, the
// issue's "works on a phone"); initScript, when set, runs before the
// page's own scripts.
func (e *bEnv) openURL(name, url, initScript string) *tab {
	e.t.Helper()
	ctx, cancel := chromedp.NewContext(e.bctx)
	e.t.Cleanup(cancel)
	tb := &tab{e: e, name: name, ctx: ctx}
	// The tab lives as long as the context of its first action: no timeout there.
	if err := chromedp.Do(ctx); err != nil {
		e.t.Fatalf("%s: new tab: %v", name, err)
	}
	rctx, rcancel := context.WithTimeout(ctx, bWait)
	defer rcancel()
	steps := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)}
	if initScript != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: initScript})
			return err
		}))
	}
	steps = append(steps, chromedp.Navigate(url))
	if err := chromedp.Do(rctx, steps...); err != nil {
		e.t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return tb
}

// do runs actions in the tab, bounded by bWait.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.e.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, bWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.e.t.Fatalf("%s: %v", tb.name, err)
	}
}

// denyMedia makes getUserMedia fail as it does when the person says no
// (the fake-UI flag would otherwise always allow).
const denyMedia = `navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));`

// evalIn runs a JavaScript expression in the tab, awaiting a promise, and
// decodes its JSON value.
func evalIn[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// pageState is what window.tether says (testenv.CustomerState, shared
// with cmd/tether-bench).
type pageState = testenv.CustomerState

const stateExpr = testenv.CustomerStateExpr

func (tb *tab) state() (pageState, error) {
	return evalIn[pageState](tb, stateExpr)
}

// waitFor polls the page every 100 ms until cond holds or d passes.
func (tb *tab) waitFor(what string, d time.Duration, cond func(pageState) bool) pageState {
	tb.e.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last pageState
	var lastErr error
	for {
		s, err := tb.state()
		if err == nil {
			last = s
			if cond(s) {
				return s
			}
		}
		lastErr = err
		if time.Now().After(deadline) {
			j, _ := json.Marshal(last)
			tb.e.t.Fatalf("%s: %s not seen within %v (err %v); page: %s", tb.name, what, d, lastErr, j)
		}
		<-tick.C
	}
}

// waitMedia waits until the counter's video decodes in this tab.
func (tb *tab) waitMedia(d time.Duration) pageState {
	tb.e.t.Helper()
	return tb.waitFor("counter connected with decoded frames", d, func(s pageState) bool {
		return s.State == "connected" && s.Stats.FramesDecoded > 0
	})
}

// screenshot saves a PNG of the tab when BROWSER_SHOTS names a directory.
func (tb *tab) screenshot(name string) {
	dir := os.Getenv("BROWSER_SHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.e.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		tb.e.t.Log(err)
	}
}

// position reads an optional queue position.
func position(s pageState) int {
	if s.Position == nil {
		return -1
	}
	return *s.Position
}
