package setup

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/gpio"
	"tether/internal/login"
	"tether/internal/netlimit"
	"tether/store"
)

//go:embed assets
var assets embed.FS

// Timeouts for calls the page makes on the user's behalf.
const (
	hubLoginTimeout = 20 * time.Second
	previewTimeout  = 5 * time.Second
	maxFormBytes    = 16 << 10
	// keepAliveEvery writes an SSE comment so proxies and phones keep the
	// stream open, and re-checks the session.
	keepAliveEvery = 15 * time.Second
)

// Server is the setup page. Handler serves it; Run listens and also runs
// the status loop that feeds the live status.
type Server struct {
	cfg Config
	clk clockwork.Clock
	log *slog.Logger

	key         []byte // CSRF HMAC key; random per process
	sessions    sessions
	limit       *login.Limiter
	hosts       *hostGuard
	fingerprint string // SHA-256 of the TLS certificate; "" without TLS
	fanout      *fanout
	kick        chan struct{} // one slot: republish the status
	handler     http.Handler

	// chooseMu makes the first-visit password choice check-then-set
	// atomic (exactly one winner). Hashing memory is bounded by
	// internal/login's gate, not here.
	chooseMu sync.Mutex
	// hubLoginMu allows one hub login at a time.
	hubLoginMu sync.Mutex
	// bound is the listener's address once Run listens: the console then
	// prints the port really in use (":0" and a taken port differ from
	// the configured one).
	bound atomic.Pointer[net.Addr]
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		clk:      cfg.Clock,
		log:      cfg.Logger.With("component", "setup"),
		key:      make([]byte, 32),
		sessions: sessions{m: map[string]*session{}, idle: cfg.SessionIdle, max: cfg.SessionMax},
		limit:    login.NewLimiter(cfg.Limiter),
		hosts:    newHostGuard(cfg.Hostname, nil, cfg.Clock.Now),
		fanout:   newFanout(),
		kick:     make(chan struct{}, 1),
	}
	if cfg.TLS != nil && len(cfg.TLS.Certificates) > 0 && len(cfg.TLS.Certificates[0].Certificate) > 0 {
		s.fingerprint = Fingerprint(cfg.TLS.Certificates[0].Certificate[0])
	}
	_, _ = rand.Read(s.key)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the page's http.Handler. Without Run the live stream only
// carries what is published by Run's status loop, so use Run in production.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves the page on cfg.Listener (or cfg.Addr) until ctx ends, with
// the status loop, then shuts the server down and returns nil. A listen or
// serve failure is returned.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("setup: listen %s: %w", s.cfg.Addr, err)
		}
	}
	addr := ln.Addr()
	s.bound.Store(&addr)
	ln = netlimit.NewListener(ln, s.cfg.MaxConnsPerAddr)
	scheme := "http"
	if s.cfg.TLS != nil {
		ln = newSniffListener(ln, s.cfg.TLS, s.cfg.ReadHeaderTimeout)
		scheme = "https"
	}
	// Streams end when baseCtx does, so Shutdown does not wait on them.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.handler,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		// ReadTimeout covers the body too: a client sending it a byte at
		// a time is cut off. The SSE stream is unaffected (once a GET's
		// body is read, net/http clears the read deadline).
		ReadTimeout:    s.cfg.ReadTimeout,
		IdleTimeout:    s.cfg.IdleTimeout,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	var wg sync.WaitGroup
	statusCtx, stopStatus := context.WithCancel(ctx)
	wg.Go(func() { s.runStatus(statusCtx) })
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- srv.Serve(ln) })
	if s.fingerprint != "" {
		s.log.Info("setup page listening", "url", scheme+"://"+ln.Addr().String()+"/", "sha256", s.fingerprint)
	} else {
		s.log.Info("setup page listening", "url", scheme+"://"+ln.Addr().String()+"/")
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("setup: serve: %w", err)
	}
	cancelBase()
	stopStatus()
	shCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if shErr := srv.Shutdown(shCtx); shErr != nil {
		_ = srv.Close()
	}
	wg.Wait()
	return err
}

// ResetPassword clears the setup password and ends every page session: the
// next visitor must choose a new one (the front-panel button's 10 s hold).
func (s *Server) ResetPassword() error {
	if err := s.cfg.Store.ClearSetupPassword(); err != nil {
		return fmt.Errorf("setup: reset password: %w", err)
	}
	s.sessions.clear()
	s.fanout.closeAll()
	s.event("password-reset", "setup password cleared by the button")
	s.log.Warn("setup password cleared; the page asks for a new one")
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /style.css", files)
	mux.Handle("GET /favicon.svg", files)

	mux.HandleFunc("GET /api/state", s.handleState)
	mux.HandleFunc("POST /api/password", s.anon(s.handleChoosePassword))
	mux.HandleFunc("POST /api/login", s.anon(s.handleLogin))
	mux.HandleFunc("POST /api/logout", s.authed(s.handleLogout))
	mux.HandleFunc("POST /api/hub-login", s.authed(s.handleHubLogin))
	mux.HandleFunc("POST /api/settings", s.authed(s.handleSettings))
	mux.HandleFunc("POST /api/led-test", s.authed(s.handleLEDTest))
	mux.HandleFunc("POST /api/restart", s.authed(s.handleRestart))
	mux.HandleFunc("GET /api/status", s.authedGet(s.handleStatus))
	mux.HandleFunc("GET /api/stream", s.authedGet(s.handleStream))
	mux.HandleFunc("GET /api/preview.jpg", s.authedGet(s.handlePreview))

	// Go's cross-origin protection (Sec-Fetch-Site / Origin) in front of
	// the CSRF tokens: a second, independent layer.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusForbidden, "cross-origin request refused", "")
	}))
	return s.hosts.wrap(s.redirectPlain(securityHeaders(cop.Handler(mux))))
}

// redirectPlain sends plain-HTTP requests to https:// on the same host and
// port when the page has TLS (308 keeps the method and body). Host was
// checked by hostGuard, so this never redirects to another site.
func (s *Server) redirectPlain(h http.Handler) http.Handler {
	if s.cfg.TLS == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// Addr is where Run listens (or will): the Listener's address, else Addr
// resolved (a ":8080" has no IP: every interface). nil if unresolvable.
func (s *Server) Addr() net.Addr {
	if a := s.bound.Load(); a != nil {
		return *a
	}
	if s.cfg.Listener != nil {
		return s.cfg.Listener.Addr()
	}
	a, err := net.ResolveTCPAddr("tcp", s.cfg.Addr)
	if err != nil {
		return nil
	}
	return a
}

// Fingerprint is the SHA-256 fingerprint of the page's TLS certificate, as
// the serial console prints it; "" without TLS.
func (s *Server) Fingerprint() string { return s.fingerprint }

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// ---- helpers ----

type apiError struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	Code  string `json:"code,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, apiError{Error: msg, Field: field})
}

func writeFieldErr(w http.ResponseWriter, err error) {
	var fe *FieldError
	if errors.As(err, &fe) {
		writeErr(w, http.StatusBadRequest, fe.Error(), fe.Field)
		return
	}
	writeErr(w, http.StatusBadRequest, err.Error(), "")
}

// parseForm reads an application/x-www-form-urlencoded body of at most
// maxFormBytes. Query-string values are ignored.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, fieldErr("body", "must be a form (application/x-www-form-urlencoded)")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, fieldErr("body", "is not a valid form or is too large")
	}
	return r.PostForm, nil
}

func (s *Server) event(to, detail string) {
	if err := s.cfg.Store.AppendEvent(store.Event{Component: "setup", To: to, Detail: detail}); err != nil {
		s.log.Warn("event log write failed", "err", err)
	}
	s.refresh()
}

// anon wraps the two POSTs allowed without a session: they need the CSRF
// token bound to the pre-session cookie.
func (s *Server) anon(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !csrfOK(s.key, "pre", cookieValue(r, preCookie), r.Header.Get(csrfHeader)) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "missing or wrong CSRF token: reload the page", Code: "csrf"})
			return
		}
		h(w, r)
	}
}

// authed wraps POSTs that need a session and its CSRF token.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := cookieValue(r, sessionCookie)
		if !s.sessions.touch(id, s.clk.Now()) {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "your setup-page session ended: log in again", Code: "auth"})
			return
		}
		if !csrfOK(s.key, "session", id, r.Header.Get(csrfHeader)) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "missing or wrong CSRF token: reload the page", Code: "csrf"})
			return
		}
		h(w, r)
	}
}

func (s *Server) authedGet(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.sessions.touch(cookieValue(r, sessionCookie), s.clk.Now()) {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "your setup-page session ended: log in again", Code: "auth"})
			return
		}
		h(w, r)
	}
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request) string {
	id := s.sessions.create(s.clk.Now())
	setCookie(w, r, sessionCookie, id, 0)
	setCookie(w, r, preCookie, "", -1)
	return csrfToken(s.key, "session", id)
}

// ---- handlers ----

type features struct {
	Preview bool `json:"preview"`
	LEDs    bool `json:"leds"`
	LEDTest bool `json:"ledTest"`
	Restart bool `json:"restart"`
}

type settingsView struct {
	HubURL      string `json:"hubUrl"`
	Room        string `json:"room"`
	Camera      string `json:"camera"`
	Microphone  string `json:"microphone"`
	Speaker     string `json:"speaker"`
	Volume      int    `json:"volume,omitempty"`
	Display     string `json:"display"`
	Resolution  string `json:"resolution"`
	FPS         int    `json:"fps"`
	BitrateKbps int    `json:"bitrate"`
}

func toSettingsView(st store.Settings) settingsView {
	v := settingsView{HubURL: st.HubURL, Room: st.RoomID, Camera: st.Camera, Microphone: st.Microphone,
		Speaker: st.Speaker, Volume: st.Volume, Display: st.Display, FPS: st.FPS, BitrateKbps: st.BitrateKbps}
	if st.Width > 0 && st.Height > 0 {
		v.Resolution = fmt.Sprintf("%dx%d", st.Width, st.Height)
	}
	return v
}

type stateView struct {
	OK          bool          `json:"ok"`
	PasswordSet bool          `json:"passwordSet"`
	LoggedIn    bool          `json:"loggedIn"`
	CSRF        string        `json:"csrf"`
	Fingerprint string        `json:"fingerprint,omitempty"` // SHA-256 of the page's certificate
	Features    *features     `json:"features,omitempty"`
	Settings    *settingsView `json:"settings,omitempty"`
	Devices     *Devices      `json:"devices,omitempty"`
}

// handleState tells the page which view to show and hands it its CSRF token.
func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	set, err := s.cfg.Store.HasSetupPassword()
	if err != nil {
		s.log.Error("reading the setup password failed", "err", err)
		writeErr(w, http.StatusInternalServerError, "the appliance's store is unreadable; see the serial console", "")
		return
	}
	v := stateView{OK: true, PasswordSet: set, Fingerprint: s.fingerprint}
	id := cookieValue(r, sessionCookie)
	if set && s.sessions.touch(id, s.clk.Now()) {
		v.LoggedIn = true
		v.CSRF = csrfToken(s.key, "session", id)
		v.Features = &features{Preview: s.cfg.Preview != nil, LEDs: s.cfg.LEDs != nil, LEDTest: s.cfg.LEDTest != nil, Restart: s.cfg.Restart != nil}
		sv := toSettingsView(s.currentSettings())
		v.Settings = &sv
		d := Devices{Cameras: []string{}, Microphones: []string{}}
		if s.cfg.Devices != nil {
			got := s.cfg.Devices()
			d.Cameras = append(d.Cameras, got.Cameras...)
			d.Microphones = append(d.Microphones, got.Microphones...)
		}
		v.Devices = &d
	} else {
		pre := cookieValue(r, preCookie)
		if pre == "" {
			pre = randomID()
			setCookie(w, r, preCookie, pre, 0)
		}
		v.CSRF = csrfToken(s.key, "pre", pre)
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) currentSettings() store.Settings {
	if s.cfg.Current != nil {
		return s.cfg.Current()
	}
	st, err := s.cfg.Store.Settings()
	if err != nil {
		s.log.Warn("stored settings unreadable", "err", err)
	}
	return st
}

// handleChoosePassword is first boot: there is no default password, so the
// first visitor chooses one. Refused once a password exists.
func (s *Server) handleChoosePassword(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	pw, err := decodeChoosePassword(form)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	s.chooseMu.Lock()
	set, err := s.cfg.Store.HasSetupPassword()
	if err == nil && !set {
		err = s.cfg.Store.SetSetupPassword(pw)
	}
	s.chooseMu.Unlock()
	switch {
	case errors.Is(err, login.ErrBusy):
		writeBusy(w)
		return
	case err != nil:
		s.log.Error("storing the setup password failed", "err", err)
		writeErr(w, http.StatusInternalServerError, "could not store the password; see the serial console", "")
		return
	case set:
		writeJSON(w, http.StatusConflict, apiError{Error: "a setup password is already set: log in with it", Code: "password-set"})
		return
	}
	s.log.Info("setup password chosen", "remote", clientAddr(r))
	s.event("password-set", "setup password chosen")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "csrf": s.startSession(w, r)})
}

// loginUser is the limiter's user name for the one setup password: the
// limiter then throttles per client address.
const loginUser = "setup"

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	// Reserved before the password is checked, so concurrent guesses get
	// no more than the free attempts through (issue 12 item 3).
	att, wait := s.limit.Reserve(loginUser, addr)
	if att == nil {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeJSON(w, http.StatusTooManyRequests, apiError{
			Error: fmt.Sprintf("too many failed logins: try again in %v", (time.Duration(secs) * time.Second).String()),
			Code:  "rate-limited",
		})
		return
	}
	defer att.Release() // no verdict unless Fail or Succeed ran first
	form, err := parseForm(w, r)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	pw, err := decodeLogin(form)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	ok, err := s.cfg.Store.CheckSetupPassword(pw)
	switch {
	case errors.Is(err, store.ErrNoPassword):
		writeJSON(w, http.StatusConflict, apiError{Error: "no setup password yet: choose one", Code: "no-password"})
		return
	case errors.Is(err, login.ErrBusy):
		writeBusy(w)
		return
	case err != nil:
		s.log.Error("checking the setup password failed", "err", err)
		writeErr(w, http.StatusInternalServerError, "could not check the password; see the serial console", "")
		return
	case !ok:
		att.Fail()
		s.log.Warn("setup page login failed", "remote", addr)
		writeErr(w, http.StatusUnauthorized, "wrong password", "password")
		return
	}
	att.Succeed()
	s.log.Info("setup page login", "remote", addr)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "csrf": s.startSession(w, r)})
}

// writeBusy answers when the process's password-hashing queue is full: no
// verdict on the password, try again in a second.
func writeBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusTooManyRequests, apiError{Error: "the appliance is busy checking passwords: try again in a moment", Code: "busy"})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.sessions.remove(cookieValue(r, sessionCookie))
	setCookie(w, r, sessionCookie, "", -1)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// handleHubLogin logs in to the hub with the counter account. The password
// goes to Login and nowhere else: not to the store, the log, the event log
// or the answer.
func (s *Server) handleHubLogin(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	f, err := decodeHubLogin(form)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	if !s.hubLoginMu.TryLock() {
		writeErr(w, http.StatusConflict, "a hub login is already in progress", "")
		return
	}
	defer s.hubLoginMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), hubLoginTimeout)
	defer cancel()
	sess, err := s.cfg.Login(ctx, f.HubURL, f.Username, f.Password)
	if err != nil {
		msg := scrub(err.Error(), f.Password)
		s.log.Warn("hub login failed", "hub", f.HubURL, "user", f.Username, "err", msg)
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			writeErr(w, http.StatusUnauthorized, "the hub says: wrong username or password", "password")
		case errors.Is(err, context.DeadlineExceeded):
			writeErr(w, http.StatusGatewayTimeout, fmt.Sprintf("the hub did not answer within %v", hubLoginTimeout), "hubUrl")
		default:
			writeErr(w, http.StatusBadGateway, "hub login failed: "+msg, "")
		}
		return
	}
	if err := s.cfg.Store.UpdateSettings(func(st *store.Settings) error { st.HubURL = f.HubURL; return nil }); err != nil {
		s.log.Warn("saving the hub URL failed", "err", err)
	}
	s.log.Info("hub login", "hub", f.HubURL, "user", f.Username, "device", sess.DeviceID, "room", sess.RoomID)
	s.event("hub-login", "logged in to "+f.HubURL+" as "+f.Username)
	if s.cfg.OnLogin != nil {
		s.cfg.OnLogin()
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "session": sessionView{
		HubURL: f.HubURL, DeviceID: sess.DeviceID, RoomID: sess.RoomID, ExpiresAt: sess.ExpiresAt,
	}})
}

// scrub removes secret from msg, in case an error quotes what was sent.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[redacted]")
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	var dev Devices
	if s.cfg.Devices != nil {
		dev = s.cfg.Devices()
	}
	f, err := decodeSettings(form, dev)
	if err != nil {
		writeFieldErr(w, err)
		return
	}
	var saved store.Settings
	err = s.cfg.Store.UpdateSettings(func(st *store.Settings) error {
		st.HubURL, st.RoomID, st.Camera, st.Microphone = f.HubURL, f.Room, f.Camera, f.Microphone
		st.Width, st.Height, st.FPS, st.BitrateKbps = f.Width, f.Height, f.FPS, f.BitrateKbps
		st.Speaker, st.Volume, st.Display = f.Speaker, f.Volume, f.Display
		saved = *st
		return nil
	})
	if err != nil {
		s.log.Error("saving settings failed", "err", err)
		if errors.Is(err, store.ErrInvalid) {
			writeErr(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		writeErr(w, http.StatusInternalServerError, "could not save the settings; see the serial console", "")
		return
	}
	s.log.Info("settings saved", "hub", saved.HubURL, "room", saved.RoomID, "camera", saved.Camera,
		"width", saved.Width, "height", saved.Height, "fps", saved.FPS, "bitrate_kbps", saved.BitrateKbps)
	s.event("settings-saved", "")
	if s.cfg.OnSettings != nil {
		s.cfg.OnSettings(saved)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "settings": toSettingsView(saved)})
}

func (s *Server) handleLEDTest(w http.ResponseWriter, r *http.Request) {
	if s.cfg.LEDTest == nil {
		writeErr(w, http.StatusNotImplemented, "this board has no LEDs to test", "")
		return
	}
	s.cfg.LEDTest()
	s.log.Info("LED test started from the setup page")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Restart == nil {
		writeErr(w, http.StatusNotImplemented, "restart is not available", "")
		return
	}
	s.log.Warn("restart requested from the setup page", "remote", clientAddr(r))
	s.event("restart-requested", "from the setup page")
	writeJSON(w, http.StatusAccepted, map[string]any{"ok": true})
	// The answer must reach the browser before the process goes away.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.cfg.Restart("setup page")
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if m := s.fanout.latestStatus(); m != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(m.data)
		return
	}
	// Run's status loop has not published yet (or is not running).
	writeJSON(w, http.StatusOK, s.buildView(s.cfg.Health.Snapshot(), nil, s.ledsNow(), nil))
}

func (s *Server) ledsNow() []gpio.LEDView {
	if s.cfg.LEDs == nil {
		return nil
	}
	return s.cfg.LEDs()
}

// handleStream is the live status as Server-Sent Events: "status" on every
// health change (and new events), "leds" on every LED change.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeErr(w, http.StatusInternalServerError, "streaming unsupported", "")
		return
	}
	id := cookieValue(r, sessionCookie)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	fl.Flush()

	c := s.fanout.join()
	defer s.fanout.leave(c)
	if len(c.status) == 0 {
		// No status published yet (Run not started): send one now.
		if data, err := json.Marshal(s.buildView(s.cfg.Health.Snapshot(), nil, s.ledsNow(), nil)); err == nil {
			offer(c.status, &message{event: "status", data: data})
		}
	}
	ka := s.clk.NewTicker(keepAliveEvery)
	defer ka.Stop()
	send := func(m *message) bool {
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data)
		fl.Flush()
		return err == nil
	}
	for {
		var m *message
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			send(&message{event: "auth", data: []byte(`{}`)})
			return
		case m = <-c.status:
		case m = <-c.leds:
		case <-ka.Chan():
			if !s.sessions.valid(id, s.clk.Now()) {
				send(&message{event: "auth", data: []byte(`{}`)})
				return
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
			continue
		}
		if !send(m) {
			return
		}
	}
}

func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Preview == nil {
		writeErr(w, http.StatusNotFound, "preview unavailable", "")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), previewTimeout)
	defer cancel()
	jpg, err := s.cfg.Preview.JPEG(ctx)
	if err != nil || len(jpg) == 0 {
		if err == nil {
			err = errors.New("no picture yet")
		}
		writeErr(w, http.StatusServiceUnavailable, "preview unavailable: "+err.Error(), "")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(jpg)
}
