package setup

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/gpio"
	"tether/internal/login"
	"tether/internal/testenv"
	"tether/media"
	"tether/signaling/socketio"
	"tether/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Secrets used by the tests; TestNoSecretsLeak looks for them everywhere.
const (
	setupPW  = "correct horse battery"
	hubPW    = "hub-secret-Pa55word"
	hubToken = "tok_0123456789abcdef0123456789abcdef"
)

type syncBuffer = testenv.SyncBuffer

type fakeHub struct {
	mu      sync.Mutex
	calls   []string // "url user"
	fail    error
	st      *store.Store
	onLogin int
}

// seen returns the Login calls and OnLogin count so far.
func (f *fakeHub) seen() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...), f.onLogin
}

func (f *fakeHub) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeHub) login(ctx context.Context, hubURL, user, pass string) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, hubURL+" "+user)
	if f.fail != nil {
		return store.Session{}, f.fail
	}
	if pass != hubPW {
		return store.Session{}, fmt.Errorf("hub login: 401: %w", ErrInvalidCredentials)
	}
	sess := store.Session{Token: hubToken, ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), DeviceID: "dev-7", RoomID: "room-42", HubURL: hubURL}
	return sess, f.st.SetSession(sess)
}

type fixture struct {
	t      *testing.T
	clk    *clockwork.FakeClock
	tr     *health.Tracker
	st     *store.Store
	hub    *fakeHub
	srv    *Server
	ts     *httptest.Server
	logs   *syncBuffer
	bodies *syncBuffer // every response body, for the leak test

	mu       sync.Mutex
	ledTests int
	restarts []string
	settings []store.Settings
	leds     []gpio.LEDView
}

type fixtureOpt func(*Config)

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, err := health.New(health.Config{Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMem(store.Options{Clock: clk, Logger: log, Argon2: testenv.KDF})
	r := &fixture{t: t, clk: clk, tr: tr, st: st, hub: &fakeHub{st: st}, logs: logs, bodies: &syncBuffer{},
		leds: []gpio.LEDView{{Name: "link", ColorName: "green"}, {Name: "status", ColorName: "red"}}}
	cfg := Config{
		Health: tr, Store: st, Login: r.hub.login, Clock: clk, Logger: log,
		OnLogin:    func() { r.hub.mu.Lock(); r.hub.onLogin++; r.hub.mu.Unlock() },
		OnSettings: func(s store.Settings) { r.mu.Lock(); r.settings = append(r.settings, s); r.mu.Unlock() },
		LEDTest:    func() { r.mu.Lock(); r.ledTests++; r.mu.Unlock() },
		Restart:    func(reason string) { r.mu.Lock(); r.restarts = append(r.restarts, reason); r.mu.Unlock() },
		LEDs:       func() []gpio.LEDView { r.mu.Lock(); defer r.mu.Unlock(); return append([]gpio.LEDView(nil), r.leds...) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	r.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.ts = httptest.NewServer(r.srv.Handler())
	t.Cleanup(r.ts.Close)
	return r
}

// runStatus starts the status loop (Run does this in production).
func (r *fixture) runStatus() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.srv.runStatus(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

// browser is one cookie jar: one person's browser.
type browser struct {
	r    *fixture
	c    *http.Client
	csrf string
}

func (r *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{r: r, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (b *browser) do(req *http.Request) answer {
	b.r.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b.r.bodies.Write(raw)
	for _, c := range resp.Header.Values("Set-Cookie") {
		b.r.bodies.Write([]byte(c))
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (b *browser) get(path string) answer {
	req, _ := http.NewRequest("GET", b.r.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) state() answer {
	a := b.get("/api/state")
	if a.status != 200 {
		b.r.t.Fatalf("state: %d %s", a.status, a.raw)
	}
	b.csrf = a.str("csrf")
	return a
}

func (b *browser) postWith(path string, form url.Values, csrf string, hdr map[string]string) answer {
	req, _ := http.NewRequest("POST", b.r.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) answer {
	a := b.postWith(path, form, b.csrf, nil)
	if c := a.str("csrf"); c != "" {
		b.csrf = c
	}
	return a
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// loggedIn returns a browser past first boot and logged in.
func (r *fixture) loggedIn() *browser {
	r.t.Helper()
	b := r.browser()
	st := b.state()
	if st.body["passwordSet"] == true {
		if a := b.post("/api/login", vals("password", setupPW)); a.status != 200 {
			r.t.Fatalf("login: %d %s", a.status, a.raw)
		}
	} else if a := b.post("/api/password", vals("password", setupPW, "confirm", setupPW)); a.status != 200 {
		r.t.Fatalf("choose password: %d %s", a.status, a.raw)
	}
	return b
}

func cookie(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestFirstBoot(t *testing.T) {
	r := newFixture(t)
	b := r.browser()
	st := b.state()
	if st.body["passwordSet"] != false || st.body["loggedIn"] != false || b.csrf == "" {
		t.Fatalf("first state %s: want no password, not logged in, a CSRF token", st.raw)
	}
	if st.body["settings"] != nil {
		t.Fatalf("settings shown before login: %s", st.raw)
	}
	pre := cookie(st.header, preCookie)
	if pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode || pre.Secure {
		t.Fatalf("pre-session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", pre)
	}
	// The login form is refused while no password exists.
	if a := b.post("/api/login", vals("password", "anything-at-all")); a.status != http.StatusConflict || a.str("code") != "no-password" {
		t.Fatalf("login before a password: %d %s", a.status, a.raw)
	}

	for _, tc := range []struct {
		name, pw, confirm, field string
	}{
		{"too short", "short", "short", "password"},
		{"only spaces", "          ", "          ", "password"},
		{"control chars", "abc\x01defghij", "abc\x01defghij", "password"},
		{"mismatch", setupPW, setupPW + "x", "confirm"},
		{"too long", strings.Repeat("a", 129), strings.Repeat("a", 129), "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.post("/api/password", vals("password", tc.pw, "confirm", tc.confirm))
			if a.status != 400 || a.str("field") != tc.field {
				t.Fatalf("choose %q: %d %s, want 400 on %s", tc.pw, a.status, a.raw, tc.field)
			}
			if set, _ := r.st.HasSetupPassword(); set {
				t.Fatal("a rejected password was stored")
			}
		})
	}

	a := b.post("/api/password", vals("password", setupPW, "confirm", setupPW))
	if a.status != 200 || a.body["ok"] != true {
		t.Fatalf("choose password: %d %s", a.status, a.raw)
	}
	sc := cookie(a.header, sessionCookie)
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", sc)
	}
	if ok, err := r.st.CheckSetupPassword(setupPW); !ok || err != nil {
		t.Fatalf("stored password does not check: %v %v", ok, err)
	}
	st = b.state()
	if st.body["loggedIn"] != true || st.body["passwordSet"] != true || st.body["settings"] == nil || st.body["features"] == nil {
		t.Fatalf("state after choosing: %s", st.raw)
	}

	// A second visitor cannot choose another password.
	other := r.browser()
	other.state()
	if a := other.post("/api/password", vals("password", "another password", "confirm", "another password")); a.status != http.StatusConflict {
		t.Fatalf("second choose: %d %s", a.status, a.raw)
	}
	if ok, _ := r.st.CheckSetupPassword(setupPW); !ok {
		t.Fatal("the first password was replaced")
	}
	evs, _ := r.st.Events(10)
	if len(evs) != 1 || evs[0].To != "password-set" {
		t.Fatalf("events %+v: want one password-set", evs)
	}
}

func TestAuthRequired(t *testing.T) {
	r := newFixture(t)
	r.loggedIn() // a password exists
	b := r.browser()
	b.state()
	for _, path := range []string{"/api/hub-login", "/api/settings", "/api/led-test", "/api/restart", "/api/logout"} {
		if a := b.post(path, vals("hubUrl", "https://h.example")); a.status != 401 || a.str("code") != "auth" {
			t.Errorf("POST %s without a session: %d %s", path, a.status, a.raw)
		}
	}
	for _, path := range []string{"/api/status", "/api/stream", "/api/preview.jpg"} {
		if a := b.get(path); a.status != 401 {
			t.Errorf("GET %s without a session: %d", path, a.status)
		}
	}
	// A made-up session cookie is no better.
	u, _ := url.Parse(r.ts.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "forged"}})
	if a := b.get("/api/status"); a.status != 401 {
		t.Errorf("forged session: %d", a.status)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ledTests != 0 || len(r.restarts) != 0 {
		t.Fatal("an action ran without a session")
	}
}

func TestCSRF(t *testing.T) {
	r := newFixture(t)
	b := r.loggedIn()
	other := r.loggedIn()
	anon := r.browser()
	anon.state()
	form := vals("bitrate", "2000")
	for _, tc := range []struct {
		name  string
		token string
		hdr   map[string]string
	}{
		{"no token", "", nil},
		{"wrong token", "AAAA", nil},
		{"another session's token", other.csrf, nil},
		{"a pre-session token", anon.csrf, nil},
		{"cross-site fetch", "<own>", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"foreign origin", "<own>", map[string]string{"Origin": "http://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token
			if tok == "<own>" {
				tok = b.csrf
			}
			a := b.postWith("/api/settings", form, tok, tc.hdr)
			if a.status != http.StatusForbidden {
				t.Fatalf("%d %s, want 403", a.status, a.raw)
			}
			if s, _ := r.st.Settings(); s.BitrateKbps != 0 {
				t.Fatal("settings stored despite the CSRF failure")
			}
		})
	}
	// Anonymous POSTs need the pre-session token too.
	if a := anon.postWith("/api/login", vals("password", setupPW), "", nil); a.status != http.StatusForbidden || a.str("code") != "csrf" {
		t.Fatalf("login without token: %d %s", a.status, a.raw)
	}
	if a := anon.postWith("/api/login", vals("password", setupPW), b.csrf, nil); a.status != http.StatusForbidden {
		t.Fatalf("login with a session token: %d %s", a.status, a.raw)
	}
	// The right token works.
	if a := b.post("/api/settings", form); a.status != 200 {
		t.Fatalf("settings with the right token: %d %s", a.status, a.raw)
	}
}

func TestLoginRateLimit(t *testing.T) {
	r := newFixture(t)
	r.loggedIn()
	b := r.browser()
	b.state()
	for i := range login.DefaultFree {
		if a := b.post("/api/login", vals("password", fmt.Sprintf("wrong-%d", i))); a.status != 401 || a.str("error") != "wrong password" {
			t.Fatalf("attempt %d: %d %s", i, a.status, a.raw)
		}
		r.clk.Advance(time.Minute)
	}
	// Past the free attempts each failure doubles the wait: 1 s after the
	// fifth (it was a minute ago, so the next is due), then 2 s, 4 s.
	for _, d := range []time.Duration{2 * time.Second, 4 * time.Second} {
		if a := b.post("/api/login", vals("password", "still-wrong")); a.status != 401 {
			t.Fatalf("delayed attempt: %d %s", a.status, a.raw)
		}
		// Not yet: even the right password is not checked.
		a := b.post("/api/login", vals("password", setupPW))
		want := fmt.Sprintf("too many failed logins: try again in %v", d)
		if a.status != http.StatusTooManyRequests || a.str("error") != want {
			t.Fatalf("locked login: %d %s, want 429 %q", a.status, a.raw, want)
		}
		if ra := a.header.Get("Retry-After"); ra != fmt.Sprint(int(d.Seconds())) {
			t.Fatalf("Retry-After %q, want %v", ra, d.Seconds())
		}
		r.clk.Advance(d)
	}
	if a := b.post("/api/login", vals("password", setupPW)); a.status != 200 {
		t.Fatalf("login after the delay: %d %s", a.status, a.raw)
	}
	// Success clears the address's failures.
	b2 := r.browser()
	b2.state()
	for range login.DefaultFree - 1 {
		b2.post("/api/login", vals("password", "nope-nope"))
	}
	if a := b2.post("/api/login", vals("password", setupPW)); a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
}

func TestSessionExpiry(t *testing.T) {
	r := newFixture(t)
	b := r.loggedIn()
	r.clk.Advance(DefaultSessionIdle - time.Second)
	if a := b.get("/api/status"); a.status != 200 {
		t.Fatalf("status before idle timeout: %d", a.status)
	}
	r.clk.Advance(DefaultSessionIdle)
	a := b.post("/api/led-test", nil)
	if a.status != 401 || a.str("code") != "auth" {
		t.Fatalf("after idle timeout: %d %s", a.status, a.raw)
	}
	// The absolute limit holds even for a busy session.
	b = r.loggedIn()
	for range int(DefaultSessionMax/(20*time.Minute)) + 1 {
		r.clk.Advance(20 * time.Minute)
		b.get("/api/status")
	}
	if a := b.get("/api/status"); a.status != 401 {
		t.Fatalf("past SessionMax: %d", a.status)
	}
	// Logout ends the session at once.
	b = r.loggedIn()
	if a := b.post("/api/logout", nil); a.status != 200 {
		t.Fatalf("logout: %d", a.status)
	}
	if a := b.get("/api/status"); a.status != 401 {
		t.Fatalf("after logout: %d", a.status)
	}
}

func TestSettingsValidation(t *testing.T) {
	r := newFixture(t, func(c *Config) {
		c.Devices = func() Devices {
			return Devices{Cameras: []string{"/dev/video0", "test"}, Microphones: []string{"hw:1,0"}}
		}
	})
	b := r.loggedIn()
	good := map[string]string{"hubUrl": "https://hub.example:8443/", "room": "room-42", "camera": "/dev/video0",
		"microphone": "hw:1,0", "resolution": "1280x720", "fps": "30", "bitrate": "2500",
		"speaker": "Loopback", "volume": "35", "display": "/dev/dri/card1"}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for gk, gv := range good {
			f.Set(gk, gv)
		}
		if v == "<twice>" {
			f.Add(k, good[k])
		} else {
			f.Set(k, v)
		}
		return f
	}
	for _, tc := range []struct {
		name, field, value, msg string
	}{
		{"ftp hub", "hubUrl", "ftp://hub.example", "must start with https://"},
		{"hub without host", "hubUrl", "https://", "must name a host"},
		{"hub with credentials", "hubUrl", "https://user:pw@hub.example", "user name or password"},
		{"hub with query", "hubUrl", "https://hub.example/?x=1", "query or fragment"},
		{"hub bad port", "hubUrl", "https://hub.example:99999", "bad port"},
		{"hub garbage", "hubUrl", "http://[::1", "not a valid URL"},
		{"room with space", "room", "my room", "without spaces"},
		{"unknown camera", "camera", "/dev/video9", "not one of the devices"},
		{"unknown mic", "microphone", "hw:9,9", "not one of the devices"},
		{"resolution word", "resolution", "hd", "WIDTHxHEIGHT"},
		{"resolution too big", "resolution", "3840x2160", "WIDTHxHEIGHT"},
		{"resolution odd", "resolution", "1281x720", "even"},
		{"resolution negative", "resolution", "-640x480", "WIDTHxHEIGHT"},
		{"fps zero", "fps", "0", "from 1 to 60"},
		{"fps text", "fps", "thirty", "from 1 to 60"},
		{"bitrate low", "bitrate", "50", "from 100 to 20000 kbit/s"},
		{"bitrate high", "bitrate", "200000", "from 100 to 20000"},
		{"bitrate float", "bitrate", "2500.5", "whole number"},
		{"bitrate twice", "bitrate", "<twice>", "more than once"},
		{"volume high", "volume", "101", "from 1 to 100"},
		{"display word", "display", "hdmi", "auto, none or a device path"},
		{"display control", "display", "/dev/dri/\x01card1", "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.post("/api/settings", with(tc.field, tc.value))
			if a.status != 400 || a.str("field") != tc.field || !strings.Contains(a.str("error"), tc.msg) {
				t.Fatalf("%d %s, want 400 on %s mentioning %q", a.status, a.raw, tc.field, tc.msg)
			}
			if s, _ := r.st.Settings(); s != (store.Settings{}) {
				t.Fatalf("settings stored despite the error: %+v", s)
			}
		})
	}
	form := url.Values{}
	for k, v := range good {
		form.Set(k, v)
	}
	a := b.post("/api/settings", form)
	if a.status != 200 {
		t.Fatalf("good settings: %d %s", a.status, a.raw)
	}
	want := store.Settings{HubURL: "https://hub.example:8443", RoomID: "room-42", Camera: "/dev/video0", Microphone: "hw:1,0",
		Speaker: "Loopback", Volume: 35, Display: "/dev/dri/card1", Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2500}
	if s, _ := r.st.Settings(); s != want {
		t.Fatalf("stored %+v, want %+v", s, want)
	}
	r.mu.Lock()
	if len(r.settings) != 1 || r.settings[0] != want {
		t.Fatalf("OnSettings got %+v", r.settings)
	}
	r.mu.Unlock()
	// Empty fields clear back to "unset".
	if a := b.post("/api/settings", vals("hubUrl", "https://hub.example")); a.status != 200 {
		t.Fatalf("sparse settings: %d %s", a.status, a.raw)
	}
	if s, _ := r.st.Settings(); s != (store.Settings{HubURL: "https://hub.example"}) {
		t.Fatalf("stored %+v", s)
	}
	// The state carries them back to the form, with the device lists.
	st := b.state()
	sv := st.body["settings"].(map[string]any)
	if sv["hubUrl"] != "https://hub.example" || st.body["devices"].(map[string]any)["cameras"].([]any)[1] != "test" {
		t.Fatalf("state %s", st.raw)
	}
	// A non-form body is refused.
	req, _ := http.NewRequest("POST", r.ts.URL+"/api/settings", strings.NewReader(`{"bitrate":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(csrfHeader, b.csrf)
	if a := b.do(req); a.status != 400 {
		t.Fatalf("JSON body: %d", a.status)
	}
	// An oversized body is refused.
	big := vals("room", strings.Repeat("r", maxFormBytes+1))
	if a := b.post("/api/settings", big); a.status != 400 {
		t.Fatalf("big body: %d", a.status)
	}
}

func TestHubLogin(t *testing.T) {
	r := newFixture(t)
	b := r.loggedIn()

	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"no url", vals("username", "counter1", "password", hubPW), "hubUrl"},
		{"bad url", vals("hubUrl", "hub.example", "username", "counter1", "password", hubPW), "hubUrl"},
		{"no user", vals("hubUrl", "https://hub.example", "password", hubPW), "username"},
		{"no password", vals("hubUrl", "https://hub.example", "username", "counter1"), "password"},
		{"huge password", vals("hubUrl", "https://hub.example", "username", "c", "password", strings.Repeat("p", 1025)), "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := b.post("/api/hub-login", tc.form); a.status != 400 || a.str("field") != tc.field {
				t.Fatalf("%d %s, want 400 on %s", a.status, a.raw, tc.field)
			}
		})
	}
	if calls, _ := r.hub.seen(); len(calls) != 0 {
		t.Fatalf("Login called for invalid forms: %v", calls)
	}

	a := b.post("/api/hub-login", vals("hubUrl", "https://hub.example/", "username", "counter1", "password", "wrong"))
	if a.status != 401 || !strings.Contains(a.str("error"), "wrong username or password") {
		t.Fatalf("wrong hub password: %d %s", a.status, a.raw)
	}
	r.hub.setFail(errors.New("dial tcp: connection refused (sent password " + hubPW + ")"))
	a = b.post("/api/hub-login", vals("hubUrl", "https://hub.example", "username", "counter1", "password", hubPW))
	if a.status != http.StatusBadGateway || !strings.Contains(a.str("error"), "connection refused") || !strings.Contains(a.str("error"), "[redacted]") {
		t.Fatalf("hub down: %d %s", a.status, a.raw)
	}
	r.hub.setFail(fmt.Errorf("login: %w", context.DeadlineExceeded))
	if a := b.post("/api/hub-login", vals("hubUrl", "https://hub.example", "username", "counter1", "password", hubPW)); a.status != http.StatusGatewayTimeout {
		t.Fatalf("hub timeout: %d %s", a.status, a.raw)
	}
	r.hub.setFail(nil)
	if _, n := r.hub.seen(); n != 0 {
		t.Fatal("OnLogin called after a failed login")
	}

	a = b.post("/api/hub-login", vals("hubUrl", "https://hub.example/", "username", " counter1 ", "password", hubPW))
	if a.status != 200 {
		t.Fatalf("hub login: %d %s", a.status, a.raw)
	}
	sess := a.body["session"].(map[string]any)
	if sess["roomId"] != "room-42" || sess["deviceId"] != "dev-7" {
		t.Fatalf("answer %s", a.raw)
	}
	calls, onLogins := r.hub.seen()
	if got := calls[len(calls)-1]; got != "https://hub.example counter1" {
		t.Fatalf("Login got %q", got)
	}
	if onLogins != 1 {
		t.Fatalf("OnLogin called %d times", onLogins)
	}
	if s, _ := r.st.Settings(); s.HubURL != "https://hub.example" {
		t.Fatalf("hub URL not saved: %+v", s)
	}
	evs, _ := r.st.Events(1)
	if len(evs) != 1 || evs[0].To != "hub-login" || !strings.Contains(evs[0].Detail, "counter1") {
		t.Fatalf("events %+v", evs)
	}
}

func TestActions(t *testing.T) {
	r := newFixture(t)
	b := r.loggedIn()
	if a := b.post("/api/led-test", nil); a.status != 200 {
		t.Fatalf("led test: %d %s", a.status, a.raw)
	}
	if a := b.post("/api/restart", nil); a.status != http.StatusAccepted {
		t.Fatalf("restart: %d %s", a.status, a.raw)
	}
	r.mu.Lock()
	if r.ledTests != 1 || len(r.restarts) != 1 || r.restarts[0] != "setup page" {
		t.Fatalf("led tests %d, restarts %v", r.ledTests, r.restarts)
	}
	r.mu.Unlock()

	// Without the hooks the page says so.
	r2 := newFixture(t, func(c *Config) { c.LEDTest, c.Restart, c.LEDs = nil, nil, nil })
	b2 := r2.loggedIn()
	st := b2.state()
	f := st.body["features"].(map[string]any)
	if f["ledTest"] != false || f["restart"] != false || f["leds"] != false || f["preview"] != false {
		t.Fatalf("features %v", f)
	}
	if a := b2.post("/api/led-test", nil); a.status != http.StatusNotImplemented {
		t.Fatalf("led test without LEDs: %d", a.status)
	}
	if a := b2.post("/api/restart", nil); a.status != http.StatusNotImplemented {
		t.Fatalf("restart without hook: %d", a.status)
	}
}

type fakePreview struct {
	jpg []byte
	err error
}

func (p fakePreview) JPEG(context.Context) ([]byte, error) { return p.jpg, p.err }

func TestPreview(t *testing.T) {
	b := newFixture(t).loggedIn()
	if a := b.get("/api/preview.jpg"); a.status != 404 || a.str("error") != "preview unavailable" {
		t.Fatalf("no preview: %d %s", a.status, a.raw)
	}
	jpg := []byte("\xff\xd8\xff\xe0fake-jpeg\xff\xd9")
	b = newFixture(t, func(c *Config) { c.Preview = fakePreview{jpg: jpg} }).loggedIn()
	a := b.get("/api/preview.jpg")
	if a.status != 200 || a.header.Get("Content-Type") != "image/jpeg" || a.raw != string(jpg) {
		t.Fatalf("preview: %d %q %q", a.status, a.header.Get("Content-Type"), a.raw)
	}
	b = newFixture(t, func(c *Config) { c.Preview = fakePreview{err: errors.New("camera busy")} }).loggedIn()
	if a := b.get("/api/preview.jpg"); a.status != 503 || !strings.Contains(a.str("error"), "preview unavailable: camera busy") {
		t.Fatalf("failing preview: %d %s", a.status, a.raw)
	}
}

// sse reads server-sent events from a stream.
type sse struct {
	t    *testing.T
	resp *http.Response
	ch   chan [2]string
}

func (b *browser) stream() *sse {
	b.r.t.Helper()
	req, _ := http.NewRequest("GET", b.r.ts.URL+"/api/stream", nil)
	c := &http.Client{Jar: b.c.Jar} // no timeout: the stream is long
	resp, err := c.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.r.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{t: b.r.t, resp: resp, ch: make(chan [2]string, 64)}
	go func() {
		defer close(s.ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = line[7:]
			case strings.HasPrefix(line, "data: "):
				b.r.bodies.Write([]byte(line))
				s.ch <- [2]string{ev, line[6:]}
			}
		}
	}()
	b.r.t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next event of kind ev, skipping others.
func (s *sse) next(ev string) string {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-s.ch:
			if !ok {
				s.t.Fatalf("stream ended waiting for %q", ev)
			}
			if e[0] == ev {
				return e[1]
			}
		case <-deadline:
			s.t.Fatalf("no %q event within 5 s", ev)
		}
	}
}

func (s *sse) status(until func(statusView) bool) statusView {
	s.t.Helper()
	for {
		var v statusView
		if err := json.Unmarshal([]byte(s.next("status")), &v); err != nil {
			s.t.Fatal(err)
		}
		if until(v) {
			return v
		}
	}
}

func TestStream(t *testing.T) {
	r := newFixture(t)
	r.runStatus()
	b := r.loggedIn()
	s := b.stream()
	v := s.status(func(v statusView) bool { return true })
	if v.Overall != "booting" || !v.LoginNeeded || len(v.LEDs) != 2 {
		t.Fatalf("first status %+v: want booting, login needed (no session), two LEDs", v)
	}

	// Both layers come up: socket with an RTT, then the peer.
	r.tr.SetBooting(false)
	r.tr.ReportSocket(health.SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: 60 * time.Millisecond})
	r.tr.ReportPeer(health.PeerStatus{State: peer.Waiting, Path: peer.PathHost, RTT: 80 * time.Millisecond})
	v = s.status(func(v statusView) bool { return v.Overall == "ready" })
	if v.Socket.State != "connected" || v.Socket.Transport != "websocket" || v.Peer.Path != "host" || v.Peer.RTTMs != 80 {
		t.Fatalf("ready status %+v", v)
	}
	if len(v.RTT) == 0 || v.RTT[len(v.RTT)-1].Peer != 80 || v.RTT[len(v.RTT)-1].Socket != 60 {
		t.Fatalf("RTT history %+v", v.RTT)
	}
	if !strings.Contains(v.Line, "ready (waiting for a customer)") {
		t.Fatalf("line %q", v.Line)
	}

	// The hub expires the session: login needed, prominently.
	r.tr.ReportSocket(health.SocketStatus{State: socketio.SessionExpired})
	v = s.status(func(v statusView) bool { return v.Overall == "login-needed" })
	if !v.LoginNeeded {
		t.Fatal("login-needed state without LoginNeeded")
	}

	// LED changes are polled and streamed.
	r.mu.Lock()
	r.leds[0].On = true
	r.mu.Unlock()
	r.clk.Advance(DefaultLEDPoll)
	var leds []gpio.LEDView
	if err := json.Unmarshal([]byte(s.next("leds")), &leds); err != nil || !leds[0].On || leds[1].On {
		t.Fatalf("leds %+v %v", leds, err)
	}

	// An event appended by another component shows up within EventPoll.
	if err := r.st.AppendEvent(store.Event{Component: "socket", From: "connected", To: "session_expired"}); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(DefaultEventPoll)
	v = s.status(func(v statusView) bool { return len(v.Events) > 0 && v.Events[0].Component == "socket" })
	if v.Events[0].To != "session_expired" {
		t.Fatalf("events %+v", v.Events)
	}

	// The polling fallback serves the same view.
	a := b.get("/api/status")
	if a.status != 200 || a.body["overall"] != "login-needed" {
		t.Fatalf("status JSON: %d %s", a.status, a.raw)
	}

	// A password reset ends the stream with an "auth" event and every session.
	if err := r.srv.ResetPassword(); err != nil {
		t.Fatal(err)
	}
	s.next("auth")
	if a := b.get("/api/status"); a.status != 401 {
		t.Fatalf("status after reset: %d", a.status)
	}
	st := r.browser().state()
	if st.body["passwordSet"] != false {
		t.Fatalf("state after reset: %s", st.raw)
	}
	if set, _ := r.st.HasSetupPassword(); set {
		t.Fatal("password still stored after ResetPassword")
	}
}

func TestStreamEndsWhenSessionExpires(t *testing.T) {
	r := newFixture(t)
	b := r.loggedIn()
	s := b.stream()
	s.next("status") // built directly: no status loop running
	r.clk.Advance(DefaultSessionIdle + keepAliveEvery)
	s.next("auth")
}

func TestStaticAndHeaders(t *testing.T) {
	r := newFixture(t)
	b := r.browser()
	for path, want := range map[string]string{"/": "<title>Tether setup</title>", "/app.js": "EventSource", "/style.css": ".toast"} {
		a := b.get(path)
		if a.status != 200 || !strings.Contains(a.raw, want) {
			t.Fatalf("GET %s: %d, want %q in it", path, a.status, want)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || a.header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("GET %s: headers %v", path, a.header)
		}
	}
	if a := b.get("/nope"); a.status != 404 {
		t.Fatalf("GET /nope: %d", a.status)
	}
}

func TestSecureCookiesOverTLS(t *testing.T) {
	r := newFixture(t)
	ts := httptest.NewTLSServer(r.srv.Handler())
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := cookie(resp.Header, preCookie)
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie over TLS %+v: want Secure", c)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS over TLS")
	}
}

// TestNoSecretsLeak runs every flow and then looks for the setup password,
// the hub password and the hub token in every response, stream event, log
// line, stored event and stored setting.
func TestNoSecretsLeak(t *testing.T) {
	r := newFixture(t)
	r.runStatus()
	b := r.loggedIn()
	b.post("/api/login", vals("password", setupPW+"x"))
	anon := r.browser()
	anon.state()
	anon.post("/api/login", vals("password", setupPW))
	anon.post("/api/login", vals("password", "wrong "+setupPW))
	anon.post("/api/password", vals("password", setupPW, "confirm", setupPW))
	b.post("/api/hub-login", vals("hubUrl", "https://hub.example", "username", "u", "password", "x"+hubPW))
	r.hub.setFail(errors.New("refused: " + hubPW))
	b.post("/api/hub-login", vals("hubUrl", "https://hub.example", "username", "u", "password", hubPW))
	r.hub.setFail(nil)
	b.post("/api/hub-login", vals("hubUrl", "https://hub.example", "username", "u", "password", hubPW))
	b.post("/api/settings", vals("hubUrl", "https://u:"+hubPW+"@hub.example"))
	b.post("/api/settings", vals("room", "r1"))
	s := b.stream()
	s.status(func(v statusView) bool { return v.Session != nil })
	b.get("/api/status")
	b.state()

	evs, _ := r.st.Events(100)
	set, _ := r.st.Settings()
	haystacks := map[string]string{
		"responses": r.bodies.String(),
		"logs":      r.logs.String(),
		"events":    fmt.Sprintf("%+v", evs),
		"settings":  fmt.Sprintf("%+v", set),
	}
	for name, h := range haystacks {
		for _, secret := range []string{setupPW, hubPW, hubToken} {
			if strings.Contains(h, secret) {
				t.Errorf("%s contain the secret %q", name, secret)
			}
		}
	}
	if !strings.Contains(r.logs.String(), "component=setup") {
		t.Fatal("no setup log lines captured; the leak test would prove nothing")
	}
}

func TestRun(t *testing.T) {
	r := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Health: r.tr, Store: r.st, Login: r.hub.login, Listener: ln, Clock: r.clk, Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	// An open stream does not hold up shutdown.
	rr := &fixture{t: t, ts: &httptest.Server{URL: base}, bodies: &syncBuffer{}}
	b := rr.browser()
	b.state()
	b.post("/api/password", vals("password", setupPW, "confirm", setupPW))
	s := b.stream()
	s.status(func(statusView) bool { return true })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	// Listening on a taken address fails with a clear error.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	srv2, _ := New(Config{Health: r.tr, Store: r.st, Login: r.hub.login, Addr: ln2.Addr().String()})
	if err := srv2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "setup: listen") {
		t.Fatalf("Run on a taken port: %v", err)
	}
}

func TestRunTLS(t *testing.T) {
	r := newFixture(t)
	cert := httptest.NewUnstartedServer(nil)
	cert.StartTLS() // borrow httptest's self-signed certificate
	tlsCfg := &tls.Config{Certificates: cert.TLS.Certificates}
	client := cert.Client()
	cert.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv, _ := New(Config{Health: r.tr, Store: r.st, Login: r.hub.login, Listener: ln, TLS: tlsCfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	resp, err := client.Get("https://" + ln.Addr().String() + "/api/state")
	if err != nil {
		cancel()
		<-done
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := cookie(resp.Header, preCookie); c == nil || !c.Secure {
		t.Fatalf("cookie over Run's TLS %+v", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewValidates(t *testing.T) {
	tr, _ := health.New(health.Config{})
	st := store.NewMem(store.Options{})
	lf := (&fakeHub{}).login
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no health", Config{Store: st, Login: lf}},
		{"no store", Config{Health: tr, Login: lf}},
		{"no login", Config{Health: tr, Store: st}},
		{"negative idle", Config{Health: tr, Store: st, Login: lf, SessionIdle: -1}},
		{"negative limit", Config{Health: tr, Store: st, Login: lf, Limiter: login.LimiterConfig{Free: -1}}},
		{"negative timeout", Config{Health: tr, Store: st, Login: lf, ReadTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

// TestStatusNamesEachMediaDevice: the setup page shows a missing camera as
// its own state and each device by name (issue 11), not "ready".
func TestStatusNamesEachMediaDevice(t *testing.T) {
	r := newFixture(t)
	b := r.loggedIn()
	r.tr.SetBooting(false)
	// Issue 15's speaker is one more entry, as the appliance merges the
	// player's state in.
	m := health.FromMedia(media.Status{Camera: media.SourceMissing, CameraError: "no /dev/video0",
		Mic: media.SourceOK, EncoderError: "openh264: no", Encoder: media.EncoderNone}.
		WithPlayer(media.PlayerStatus{Speaker: media.SourceReopening, SpeakerError: "EIO"}))
	r.tr.ReportMedia(m)
	a := b.get("/api/status")
	var st struct {
		Media struct {
			Devices []struct{ Name, State, Error string }
			Encoder string
		}
	}
	if err := json.Unmarshal([]byte(a.raw), &st); err != nil {
		t.Fatal(err)
	}
	want := []struct{ Name, State, Error string }{{"camera", "missing", "no /dev/video0"}, {"mic", "ok", ""}, {"speaker", "reopening", "EIO"}}
	if a.status != 200 || a.str("overall") != "no-camera" || !strings.Contains(a.str("reason"), "camera missing: no /dev/video0") ||
		!slices.Equal(st.Media.Devices, want) || st.Media.Encoder != "down" {
		t.Fatalf("status %d %s", a.status, a.raw)
	}
	// With the camera back, the failed speaker is the state.
	m.Devices[0] = media.Device{Name: media.DeviceCamera, State: media.SourceOK}
	m.Encoder, m.EncoderError = media.EncoderSoftware, ""
	r.tr.ReportMedia(m)
	if a := b.get("/api/status"); a.str("overall") != "no-speaker" || !strings.Contains(a.str("reason"), "speaker reopening: EIO") {
		t.Fatalf("status %d %s", a.status, a.raw)
	}
}
