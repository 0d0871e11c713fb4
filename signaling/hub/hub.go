package hub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"

	"tether/internal/login"
	"tether/internal/netlimit"
	"tether/signaling"
	"tether/signaling/engineio"
	"tether/signaling/hub/auth"
)

// Config configures a Hub. Zero values are the defaults noted.
type Config struct {
	// Listen is the HTTP address (default 127.0.0.1:8080); ":0" picks a
	// port, see Hub.Addr.
	Listen string
	// Listener, when set, is used instead of Listen (tests, socket
	// activation).
	Listener net.Listener
	// DataPath is the bbolt file (required unless Store or Redis is set).
	DataPath string
	// Redis, when set, keeps the durable state in Redis instead of
	// DataPath (a redis:// or unix:// URL), so several hub nodes share
	// accounts, sessions and invites, and the hub runs as one node of a
	// cluster whose rooms span every node (issue 17; cluster.go).
	Redis string
	// Cluster tunes the cluster mode (with Redis).
	Cluster ClusterConfig
	// Store, when set, is used instead of opening DataPath; the hub does
	// not close it.
	Store *auth.Store
	// KDF for new passwords (default auth.DefaultKDF).
	KDF auth.KDF
	// SessionTTL (default 30 days), sliding on session:verify.
	SessionTTL time.Duration
	// PublicURL is how customers reach the hub, for invite links
	// (default http://<listen address>).
	PublicURL string
	// AllowedOrigins for the customer page when it is served elsewhere.
	AllowedOrigins []string
	// RecoveryWindow is how long a dropped socket keeps its userId and its
	// place in the room (default 2 min, the issue's).
	RecoveryWindow time.Duration
	// MaxQueue bounds the customers waiting for one counter (default
	// 100); room:join beyond it answers room_full. MaxQueuePerInvite
	// (default 20) and MaxQueuePerAddr (default 5) bound the places one
	// invite code and one client address hold in a queue, so one holder
	// cannot fill it (issue 12).
	MaxQueue          int
	MaxQueuePerInvite int
	MaxQueuePerAddr   int
	// QueueGrace is how long a waiting customer whose socket dropped keeps
	// its place (default 5 s: a phone changing networks). It is not the
	// recovery window: a vanished customer must not hold a place for
	// minutes; its drop is noticed within pingInterval + pingTimeout.
	QueueGrace time.Duration
	// MaxSessions and MaxSessionsPerAddr bound the Engine.IO sessions in
	// total and per client address (defaults 10000 and 32; negative: no
	// bound). MaxConnsPerAddr bounds the TCP connections one address holds
	// open (default 64; negative: none). Raise them for many counters
	// behind one NAT.
	MaxSessions        int
	MaxSessionsPerAddr int
	MaxConnsPerAddr    int
	// IdleTimeout closes keep-alive connections idle that long (default
	// 30 s); BodyTimeout bounds reading one request body (default 10 s):
	// a client sending a byte at a time is cut off (issue 12, slow clients).
	IdleTimeout time.Duration
	BodyTimeout time.Duration
	// SignalRate and SignalBurst bound the signal messages one socket may
	// send (default 20/s, burst 60: an ICE gathering is a few dozen
	// candidates); above it signals are refused with rate_limited, and a
	// socket refused more than SignalStrikes times in a burst (default 40,
	// then one a second) is disconnected.
	SignalRate    float64
	SignalBurst   int
	SignalStrikes int
	// TLSCert and TLSKey (PEM files) make the hub serve HTTPS itself;
	// otherwise it serves plain HTTP, for a TLS reverse proxy in front.
	TLSCert, TLSKey string
	// PingInterval and PingTimeout of Engine.IO (defaults 25 s and 20 s).
	PingInterval, PingTimeout time.Duration
	// MaxPayload of one Engine.IO message (default 64 KiB: an SDP offer
	// with many candidates fits many times).
	MaxPayload int64
	// RateLimit of packets per second per socket (default 50, burst 100;
	// negative: none). A peer above it is slowed down, then closed.
	RateLimit float64
	// Login limits for wrong passwords (per user and address, growing
	// delays; internal/login).
	Limiter login.LimiterConfig
	// TrustProxy takes the client address for login rate limits from
	// X-Forwarded-For (only behind a reverse proxy you run).
	TrustProxy bool
	// TURN is the embedded TURN server; ICE lists external STUN/TURN
	// servers handed out as well (or instead).
	TURN TURNConfig
	ICE  []ICEConfig
	// AdminSocket is the unix socket of the admin API (default
	// DataPath + ".sock"; "-" disables it).
	AdminSocket string

	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Hub is the signalling hub. Build it with New, start it with Run.
type Hub struct {
	cfg   Config
	clk   clockwork.Clock
	log   *slog.Logger
	store *auth.Store
	lim   *login.Limiter
	m     *metrics
	turn  *turnServer
	ln    net.Listener
	lim2  *netlimit.Listener // ln bounded per address (nil: no bound)
	http  *http.Server
	sio   socketServer
	cl    *cluster // nil: one node
	// gate admits the store look-ups of connects and session:verify
	// (issue 17: a reconnect storm must get "busy", never "internal").
	gate *login.Gate

	ops  chan func(*state)
	done chan struct{} // closed when the loop has stopped
	st   *state        // owned by the loop goroutine

	runOnce sync.Once
	ownsDB  bool
}

// socketServer is what the hub needs of the Socket.IO server: an HTTP
// handler, its housekeeping goroutine and a way to stop it.
type socketServer interface {
	http.Handler
	Run(ctx context.Context) error
	Close() error
	Stats() engineio.ServerStats
}

// New validates cfg, opens the store, binds the listeners (so Addr is known
// before Run) and builds the hub.
func New(cfg Config) (*Hub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, clk: cfg.Clock, log: cfg.Logger.With("component", "hub"),
		ops: make(chan func(*state), 256), done: make(chan struct{}),
		gate: login.NewGate(storeSlots, storeQueue, storeWait)}
	if err := h.openStore(); err != nil {
		return nil, err
	}
	h.lim = login.NewLimiter(cfg.Limiter)
	h.m = newMetrics(h.connCounts)
	h.st = h.newState()
	if cfg.TURN.enabled() {
		if err := h.startTURN(); err != nil {
			h.closeDB()
			return nil, err
		}
	}
	// From here on a failure closes the listener and the TURN server too.
	for _, step := range []func() error{h.listen, h.resolvePublicURL, h.startSocketServer, h.newHTTPServer} {
		if err := step(); err != nil {
			h.closeAll()
			return nil, err
		}
	}
	return h, nil
}

// withDefaults fills the zero values with the defaults noted on Config
// and rejects what cannot work.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.RecoveryWindow == 0 {
		cfg.RecoveryWindow = 2 * time.Minute
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 64 << 10
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 50
	}
	cfg.TURN = cfg.TURN.withDefaults()
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&cfg.MaxQueuePerInvite, 20)
	defInt(&cfg.MaxQueuePerAddr, 5)
	defInt(&cfg.MaxSessions, 10000)
	defInt(&cfg.MaxSessionsPerAddr, 32)
	defInt(&cfg.MaxConnsPerAddr, 64)
	defInt(&cfg.SignalBurst, 60)
	defInt(&cfg.SignalStrikes, 40)
	if cfg.SignalRate == 0 {
		cfg.SignalRate = 20
	}
	if cfg.QueueGrace == 0 {
		cfg.QueueGrace = 5 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = 10 * time.Second
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, fmt.Errorf("hub: TLS needs both a certificate and a key: %w", ErrConfig)
	}
	if cfg.Limiter.Clock == nil {
		cfg.Limiter.Clock = cfg.Clock
	}
	if cfg.Store == nil && cfg.DataPath == "" && cfg.Redis == "" {
		return cfg, fmt.Errorf("hub: no data path: %w", ErrConfig)
	}
	if cfg.AdminSocket == "" && cfg.DataPath != "" {
		cfg.AdminSocket = cfg.DataPath + ".sock"
	}
	for _, e := range cfg.ICE {
		if err := e.validate(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// openStore uses the configured store or opens the bbolt file at DataPath
// (and then owns it: closeDB closes it).
func (h *Hub) openStore() error {
	cfg := h.cfg
	h.store = cfg.Store
	if h.store == nil {
		s, err := auth.Open(auth.Config{Path: cfg.DataPath, Redis: cfg.Redis, KDF: cfg.KDF, SessionTTL: cfg.SessionTTL, Clock: cfg.Clock, Logger: cfg.Logger})
		if err != nil {
			return err
		}
		h.store, h.ownsDB = s, true
	}
	return nil
}

// newState builds the state the Run goroutine owns, with the limits from
// the configuration.
func (h *Hub) newState() *state {
	cfg := h.cfg
	st := newState(cfg.Clock, h.log, h.m)
	st.recovery = max(cfg.RecoveryWindow, 0)
	st.maxQueue = cfg.MaxQueue
	if st.maxQueue == 0 {
		st.maxQueue = 100
	}
	st.maxPerInvite, st.maxPerAddr = max(cfg.MaxQueuePerInvite, 0), max(cfg.MaxQueuePerAddr, 0)
	st.queueGrace = max(cfg.QueueGrace, 0)
	st.signalRate, st.signalBurst, st.signalStrikes = cfg.SignalRate, cfg.SignalBurst, cfg.SignalStrikes
	st.iceRefresh = cfg.TURN.CustomerTTL / 2
	st.ice = h.iceServers
	st.after = h.after
	return st
}

// startTURN starts the embedded TURN server with the hub's stored secret
// and lets the state entitle customers to it.
func (h *Hub) startTURN() error {
	secret, err := h.store.Secret("turn")
	if err != nil {
		return err
	}
	if h.turn, err = newTURNServer(h.cfg.TURN, secret, h.cfg.Clock, h.cfg.Logger); err != nil {
		return err
	}
	h.st.entitle = h.turn.entitle
	return nil
}

// listen opens the configured listener (or takes the given one) and
// wraps it in the per-address connection limit.
func (h *Hub) listen() error {
	h.ln = h.cfg.Listener
	if h.ln == nil {
		var err error
		if h.ln, err = net.Listen("tcp", h.cfg.Listen); err != nil {
			return fmt.Errorf("hub: listen %s: %w", h.cfg.Listen, err)
		}
	}
	if h.cfg.MaxConnsPerAddr > 0 {
		h.lim2 = netlimit.NewListener(h.ln, h.cfg.MaxConnsPerAddr)
	}
	return nil
}

// resolvePublicURL defaults PublicURL to the listener's address and
// allows its origin.
func (h *Hub) resolvePublicURL() error {
	if h.cfg.PublicURL == "" {
		scheme := "http://"
		if h.cfg.TLSCert != "" {
			scheme = "https://"
		}
		h.cfg.PublicURL = scheme + h.ln.Addr().String()
	}
	h.cfg.PublicURL = strings.TrimRight(h.cfg.PublicURL, "/")
	// The customer page is served from PublicURL: its origin may open
	// sockets (behind a TLS proxy the Host the hub sees differs from it).
	u, err := url.Parse(h.cfg.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("hub: public URL %q: %w", h.cfg.PublicURL, ErrConfig)
	}
	if origin := u.Scheme + "://" + u.Host; !slices.Contains(h.cfg.AllowedOrigins, origin) {
		h.cfg.AllowedOrigins = append(slices.Clip(h.cfg.AllowedOrigins), origin)
	}
	return nil
}

func (h *Hub) startSocketServer() error {
	var err error
	h.sio, err = newSocketServer(h)
	if err != nil {
		return err
	}
	if h.cfg.Redis != "" {
		if h.cl, err = newCluster(h, h.cfg.Redis, h.cfg.Cluster); err != nil {
			return err
		}
		h.st.roomcast = h.cl.roomcast // before Run: the loop owns st after
	}
	h.m.registerLimits(h)
	return nil
}

// newHTTPServer builds the HTTP server. No ReadTimeout or WriteTimeout: a
// polling GET is held up to pingInterval and websockets outlive their
// request. Request bodies get BodyTimeout each (bodyDeadline), headers
// ReadHeaderTimeout, an idle keep-alive connection IdleTimeout.
func (h *Hub) newHTTPServer() error {
	h.http = &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: h.cfg.IdleTimeout,
		MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
	if h.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(h.cfg.TLSCert, h.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("hub: TLS certificate: %w", err)
		}
		h.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return nil
}

func (h *Hub) closeDB() {
	if h.ownsDB {
		h.store.Close()
	}
}

func (h *Hub) closeAll() {
	if h.cl != nil {
		h.cl.rc.Close()
	}
	if h.sio != nil {
		h.sio.Close()
	}
	if h.turn != nil {
		h.turn.Close()
	}
	if h.ln != nil && h.cfg.Listener == nil {
		h.ln.Close()
	}
	h.closeDB()
}

// Addr is the HTTP listener's address.
func (h *Hub) Addr() net.Addr { return h.ln.Addr() }

// URL is the hub's base URL (PublicURL).
func (h *Hub) URL() string { return h.cfg.PublicURL }

// Store is the hub's durable state.
func (h *Hub) Store() *auth.Store { return h.store }

// TURNAddrs are the embedded TURN server's UDP and TCP addresses (nil
// when it is off).
func (h *Hub) TURNAddrs() (udp, tcp net.Addr) {
	if h.turn == nil {
		return nil, nil
	}
	return h.turn.udpAddr, h.turn.tcpAddr
}

// Run serves until ctx ends, then shuts everything down and waits for it.
// It may be called once.
func (h *Hub) Run(ctx context.Context) error {
	err := ErrClosed
	h.runOnce.Do(func() { err = h.run(ctx) })
	return err
}

func (h *Hub) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(1)
	go func() { defer wg.Done(); h.loop(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); _ = h.sio.Run(ctx) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ln net.Listener = h.ln
		if h.lim2 != nil {
			ln = h.lim2
		}
		if h.http.TLSConfig != nil {
			ln = tls.NewListener(ln, h.http.TLSConfig)
		}
		if err := h.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("hub: http: %w", err)
		}
	}()
	if h.cfg.AdminSocket != "-" && h.cfg.AdminSocket != "" {
		adm, err := h.listenAdmin()
		if err != nil {
			h.log.Warn("admin socket unavailable; the CLI will need the hub stopped", "path", h.cfg.AdminSocket, "err", err)
		} else {
			wg.Add(1)
			go func() { defer wg.Done(); adm.serve(ctx) }()
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); h.janitor(ctx) }()
	if h.cl != nil {
		wg.Add(1)
		go func() { defer wg.Done(); h.cl.run(ctx) }()
	}
	h.log.Info("hub serving", "addr", h.ln.Addr().String(), "url", h.cfg.PublicURL, "turn", h.turn != nil)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = h.sio.Close()
	_ = h.http.Shutdown(sctx)
	wg.Wait()
	if h.turn != nil {
		h.turn.Close()
	}
	h.closeDB()
	return err
}

// loop owns the rooms: every change runs here, one at a time.
func (h *Hub) loop(ctx context.Context) {
	defer close(h.done)
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-h.ops:
			f(h.st)
		}
	}
}

// do runs f on the loop and returns false when the loop has stopped.
func (h *Hub) do(f func(*state)) bool {
	select {
	case h.ops <- f:
		return true
	case <-h.done:
		return false
	}
}

// call runs f on the loop and waits for it.
func (h *Hub) call(f func(*state)) bool {
	ch := make(chan struct{})
	if !h.do(func(st *state) { defer close(ch); f(st) }) {
		return false
	}
	select {
	case <-ch:
		return true
	case <-h.done:
		return false
	}
}

// after runs f on the loop after d of the hub's clock.
func (h *Hub) after(d time.Duration, f func(*state)) {
	h.clk.AfterFunc(d, func() { h.do(f) })
}

// janitor prunes expired sessions hourly.
func (h *Hub) janitor(ctx context.Context) {
	t := h.clk.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := h.store.PruneSessions(); err != nil {
			h.log.Warn("prune sessions", "err", err)
		} else if n > 0 {
			h.log.Info("pruned expired sessions", "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

func (h *Hub) connCounts() map[[2]string]int {
	out := map[[2]string]int{}
	h.call(func(st *state) {
		for _, m := range st.members {
			if !m.away {
				out[[2]string{string(m.p.Role), m.conn.Transport()}]++
			}
		}
	})
	return out
}

// ConnectError is a refused CONNECT; Message is the CONNECT_ERROR message.
// A busy refusal carries RetryAfter as CONNECT_ERROR's data.
type ConnectError struct {
	Message    string
	RetryAfter time.Duration
}

func (e *ConnectError) Error() string { return e.Message }

// ConnectErrorData is CONNECT_ERROR's data: {"retryAfterMs": N} when busy.
func (e *ConnectError) ConnectErrorData() any {
	if e.RetryAfter <= 0 {
		return nil
	}
	return map[string]int64{"retryAfterMs": e.RetryAfter.Milliseconds()}
}

// Admission of store look-ups (issue 17 §4). At 10,000 devices
// reconnecting to one node, every connect's Verify ran at once: thousands
// of goroutines queued for go-redis's 64 pooled connections, each with
// the store's 2 s deadline running while it queued, so under a sustained
// storm nearly every look-up timed out ("internal"), clients retried at
// once and the node served almost none (Redis sat idle: the queue, not
// Redis, was the bottleneck). Now at most storeSlots look-ups run (the
// Redis pool's size, so none queues for a connection and each has its
// whole deadline for Redis), up to storeQueue wait at most storeWait, and
// the rest are answered "busy" with a jittered retryAfterMs at once: a
// storm costs a bounded queue and is served at the store's own rate.
const (
	storeSlots = auth.RedisPoolSize
	storeQueue = 2048
	storeWait  = time.Second
)

// retryAfter is busy's hint: 1–3 s, jittered so a refused storm does not
// come back as one wave.
func retryAfter() time.Duration {
	return time.Second + rand.N(2*time.Second)
}

// errBusy marks a look-up that was refused or could not reach the store:
// retryable, as opposed to a damaged record ("internal").
var errBusy = errors.New("hub: store busy")

// verify is Store.Verify through the admission gate: errBusy when the
// gate is full or the store is unreachable.
func (h *Hub) verify(token string, slide bool) (auth.Session, error) {
	var s auth.Session
	var err error
	if h.gate.Do(func() { s, err = h.store.Verify(token, slide) }) != nil {
		h.m.storeBusy.Inc()
		return s, errBusy
	}
	if errors.Is(err, auth.ErrUnavailable) {
		return s, fmt.Errorf("%w: %w", errBusy, err)
	}
	return s, err
}

// Authenticate is the Socket.IO auth middleware: it maps the CONNECT
// payload to a Principal or to a CONNECT_ERROR with the contract's
// session_expired, unauthorized or invite_invalid, or busy.
func (h *Hub) Authenticate(raw json.RawMessage) (Principal, error) {
	p, err := h.authenticate(raw)
	if err != nil {
		var ce *ConnectError
		if errors.As(err, &ce) {
			h.m.refused.WithLabelValues(ce.Message).Inc()
		}
	}
	return p, err
}

func (h *Hub) authenticate(raw json.RawMessage) (Principal, error) {
	var a connectAuth
	if err := decodeArg(raw, &a); err != nil {
		return Principal{}, &ConnectError{Message: codeUnauthorized}
	}
	switch a.Role {
	case RoleDevice:
		if a.Token == "" {
			return Principal{}, &ConnectError{Message: codeUnauthorized}
		}
		s, err := h.verify(a.Token, false)
		if err != nil {
			switch {
			case auth.IsSessionExpired(err):
				return Principal{}, &ConnectError{Message: codeSessionExpired}
			case errors.Is(err, errBusy):
				return Principal{}, &ConnectError{Message: codeBusy, RetryAfter: retryAfter()}
			}
			h.log.Error("verify at connect", "err", err)
			return Principal{}, &ConnectError{Message: codeInternal}
		}
		if s.Role != auth.RoleCounter {
			return Principal{}, &ConnectError{Message: codeUnauthorized}
		}
		return Principal{Role: RoleDevice, Account: s.Account, DeviceID: s.DeviceID, RoomID: s.RoomID}, nil
	case RoleCustomer:
		var inv auth.Invite
		var err error
		if h.gate.Do(func() { inv, err = h.store.CheckInvite(a.Invite) }) != nil {
			h.m.storeBusy.Inc()
			return Principal{}, &ConnectError{Message: codeBusy, RetryAfter: retryAfter()}
		}
		if err != nil {
			switch {
			case errors.Is(err, auth.ErrInviteInvalid):
				return Principal{}, &ConnectError{Message: codeInviteInvalid}
			case errors.Is(err, auth.ErrUnavailable):
				return Principal{}, &ConnectError{Message: codeBusy, RetryAfter: retryAfter()}
			}
			h.log.Error("check invite", "err", err)
			return Principal{}, &ConnectError{Message: codeInternal}
		}
		return Principal{Role: RoleCustomer, RoomID: inv.RoomID, Name: displayName(a.Name), InviteID: inv.ID}, nil
	}
	return Principal{}, &ConnectError{Message: codeUnauthorized}
}

// displayName keeps a customer's name printable and short (64 bytes).
func displayName(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	for len(s) > auth.MaxNameLen {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	if s == "" {
		s = "Customer"
	}
	return s
}

// Connected registers an authenticated socket (recovered: the server
// restored a dropped session with the same socket id).
func (h *Hub) Connected(c Conn, p Principal, recovered bool) {
	if h.cl != nil && h.cl.connected(c, p, recovered) {
		return
	}
	h.do(func(st *state) { st.connected(c, p, recovered) })
}

// Disconnected unregisters a socket; recoverable is true when the server
// keeps the session for recovery (a transport close or ping timeout).
func (h *Hub) Disconnected(c Conn, recoverable bool) {
	if h.cl != nil && h.cl.disconnected(c, recoverable) {
		return
	}
	h.do(func(st *state) { st.disconnected(c.ID(), recoverable) })
}

// Event handles one event of the contract from socket c. It runs on the
// socket's reader goroutine; store work happens here, room work on the loop.
func (h *Hub) Event(c Conn, p Principal, name string, arg json.RawMessage, ack Ack) {
	if h.cl != nil && name != signaling.EvKeepalive && h.cl.event(c, name, arg, ack) {
		return
	}
	switch name {
	case signaling.EvSessionVerify, signaling.EvRoomJoin, signaling.EvCallEnded, signaling.EvSignal,
		signaling.EvKeepalive, signaling.EvDeviceStatus:
		h.m.events.WithLabelValues(name).Inc()
	default:
		h.m.events.WithLabelValues("other").Inc()
		answer(ack, fail(codeBadRequest))
		return
	}
	switch name {
	case signaling.EvSessionVerify:
		h.onVerify(c, p, arg, ack)
	case signaling.EvRoomJoin:
		var req struct {
			RoomID string `json:"roomId"`
		}
		if decodeArg(arg, &req) != nil {
			answer(ack, fail(codeBadRequest))
			return
		}
		h.do(func(st *state) { st.join(c.ID(), req.RoomID, ack) })
	case signaling.EvCallEnded:
		var ev signaling.RoomEvent
		if decodeArg(arg, &ev) != nil {
			answer(ack, fail(codeBadRequest))
			return
		}
		h.do(func(st *state) { st.callEnded(c.ID(), ev, ack) })
	case signaling.EvSignal:
		s, code := checkSignal(arg)
		switch code {
		case codeBadRequest:
			h.m.signals.WithLabelValues("malformed").Inc()
			answer(ack, fail(codeBadRequest))
		case codeTooLarge:
			// Still a strike against the sender.
			h.do(func(st *state) { st.signalRefused(c.ID(), "too_large", codeTooLarge, ack) })
		default:
			h.do(func(st *state) { st.signal(c.ID(), s, ack) })
		}
	case signaling.EvKeepalive:
		var req struct {
			T int64 `json:"t"`
		}
		if decodeArg(arg, &req) != nil {
			answer(ack, fail(codeBadRequest))
			return
		}
		answer(ack, signaling.KeepaliveReply{OK: true, T: req.T, ServerTime: h.clk.Now().UnixMilli()})
	case signaling.EvDeviceStatus:
		if len(arg) > maxStatusLen || decodeArg(arg, &json.RawMessage{}) != nil {
			return
		}
		raw := append(json.RawMessage(nil), arg...)
		h.do(func(st *state) { st.deviceStatus(c.ID(), raw) })
	}
}

// maxStatusLen bounds a stored device:status.
const maxStatusLen = 8 << 10

// Signal size bounds (issue 12): a real SDP offer or answer, many
// candidates included, is a few KiB; a candidate line is under 200 bytes.
// maxSignalArg is the whole argument: an SDP at its bound plus JSON
// escaping and the other fields.
const (
	maxSDP       = 16 << 10
	maxCandidate = 1 << 10
	maxSignalArg = maxSDP + maxSDP/4 + 1<<10
)

// checkSignal decodes a signal within the size bounds: "" when it may be
// routed, else codeTooLarge (checked before decoding when the argument
// itself is too long) or codeBadRequest.
func checkSignal(arg json.RawMessage) (signaling.Signal, string) {
	var s signaling.Signal
	if len(arg) > maxSignalArg {
		return s, codeTooLarge
	}
	if decodeArg(arg, &s) != nil {
		return s, codeBadRequest
	}
	if (s.Description != nil && len(s.Description.SDP) > maxSDP) || (s.Candidate != nil && len(s.Candidate.Candidate) > maxCandidate) {
		return s, codeTooLarge
	}
	return s, ""
}

// onVerify answers session:verify: the token must be a live session of the
// socket's own device; the expiry slides.
func (h *Hub) onVerify(c Conn, p Principal, arg json.RawMessage, ack Ack) {
	var req struct {
		Token string `json:"token"`
	}
	if p.Role != RoleDevice || decodeArg(arg, &req) != nil {
		answer(ack, fail(codeUnauthorized))
		return
	}
	s, err := h.verify(req.Token, true)
	if err != nil || s.DeviceID != p.DeviceID {
		// Refused: the device reconnects afresh (later, or after a
		// login), so its socket leaves no recovery session behind.
		forgetOnLeave(c)
	}
	switch {
	case auth.IsSessionExpired(err):
		answer(ack, fail(codeSessionExpired))
		return
	case errors.Is(err, errBusy):
		answer(ack, reply{Error: codeBusy, RetryAfterMs: retryAfter().Milliseconds()})
		return
	case err != nil:
		h.log.Error("session:verify", "err", err)
		answer(ack, fail(codeInternal))
		return
	case s.DeviceID != p.DeviceID:
		answer(ack, fail(codeUnauthorized))
		return
	}
	h.do(func(st *state) {
		if !st.verified(c.ID()) {
			answer(ack, fail(codeUnauthorized))
			return
		}
		answer(ack, signaling.VerifyReply{OK: true, DeviceID: s.DeviceID, RoomID: s.RoomID,
			ExpiresAt: s.ExpiresAt, ICEServers: h.iceServers(s.DeviceID)})
	})
}

// forgetOnLeave tells a Socket.IO connection to keep no recovery session
// when it leaves (sioConn.ForgetOnLeave; test connections have none).
func forgetOnLeave(c Conn) {
	if f, ok := c.(interface{ ForgetOnLeave() }); ok {
		f.ForgetOnLeave()
	}
}

// RevokeAccount ends the account's sessions, pushes session:expired to its
// connected device and disconnects it. It returns the sessions ended.
func (h *Hub) RevokeAccount(name string) (int, error) {
	n, err := h.store.Revoke(name)
	if err != nil {
		return 0, err
	}
	h.call(func(st *state) { st.expireAccount(name) })
	if h.cl != nil {
		h.cl.revoked(name)
	}
	return n, nil
}

// InviteLink is the customer's URL for an invite code.
func (h *Hub) InviteLink(code string) string { return h.cfg.PublicURL + "/c/" + code }
