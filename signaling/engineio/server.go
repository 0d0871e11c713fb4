package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/signaling/internal/netpoll"
)

// CloseReason says why a server session ended. The values are the reasons
// the Node engine.io server reports, so the Socket.IO layer can apply
// socket.io's rules (which reasons allow connection state recovery).
type CloseReason string

// Close reasons (engine.io 6 "close" event).
const (
	ReasonTransportClose CloseReason = "transport close" // the peer closed the transport or sent a close packet
	ReasonTransportError CloseReason = "transport error" // a read/write failed, overlapping GETs/POSTs, oversize payload
	ReasonPingTimeout    CloseReason = "ping timeout"    // no pong within pingTimeout
	ReasonParseError     CloseReason = "parse error"     // a packet did not decode
	ReasonForcedClose    CloseReason = "forced close"    // Session.Close
	ReasonServerShutdown CloseReason = "server shutting down"
	ReasonRateLimited    CloseReason = "rate limited" // ours: the peer kept sending above the rate limit
)

func (r CloseReason) String() string { return string(r) }

// ServerConfig configures a Server. Zero values take the Node engine.io
// server's defaults.
type ServerConfig struct {
	// Path is the endpoint path; default "/socket.io/".
	Path string
	// PingInterval (default 25 s) and PingTimeout (default 20 s): the server
	// pings every PingInterval and closes a session whose pong does not come
	// within PingTimeout (Engine.IO v4 "Heartbeat").
	PingInterval, PingTimeout time.Duration
	// UpgradeTimeout bounds a polling → websocket upgrade from the probe to
	// the upgrade packet (default 10 s).
	UpgradeTimeout time.Duration
	// WriteTimeout bounds one websocket write (default 10 s).
	WriteTimeout time.Duration
	// MaxPayload is socket.io's maxHttpBufferSize: the largest websocket
	// message or polling POST body accepted, and the bound of one polling
	// GET response (default 1e6 bytes). It is announced in the handshake.
	MaxPayload int64
	// MaxBuffered bounds the bytes queued for one session that the peer has
	// not taken yet (a polling client that stopped polling, a stalled
	// websocket); above it the session is closed (default 4 × MaxPayload).
	MaxBuffered int64
	// Transports accepted; default [polling, websocket].
	Transports []string
	// NoUpgrades stops offering polling → websocket upgrades.
	NoUpgrades bool
	// AllowedOrigins lists the browser origins ("https://hub.example")
	// allowed cross-origin: they get CORS headers with credentials, and their
	// websocket handshakes are accepted. "*" allows any origin. Requests
	// without an Origin header (non-browser clients) and same-host origins
	// are always allowed; any other origin is refused with 403.
	AllowedOrigins []string
	// RateLimit bounds the packets per second a session may send (token
	// bucket, RateBurst tokens; default burst 2 × RateLimit, at least 10).
	// A peer above it is slowed down (its reads wait for tokens, TCP pushes
	// back); one that would have to wait more than MaxRateDelay (default
	// 1 s) is closed with ReasonRateLimited. Zero disables the limit.
	RateLimit    float64
	RateBurst    int
	MaxRateDelay time.Duration
	// MaxSessions bounds the open sessions in total and MaxSessionsPerAddr
	// those of one client address (ClientAddr); a handshake beyond either
	// is answered 503 before anything is allocated for it. Zero: no bound.
	MaxSessions        int
	MaxSessionsPerAddr int
	// ClientAddr names the client of a request for MaxSessionsPerAddr
	// (default: the host of RemoteAddr; behind a trusted proxy the caller
	// passes its own).
	ClientAddr func(r *http.Request) string

	// OnOpen is called for every new session before any of its messages is
	// delivered and before the open packet is sent; set the session's Data
	// here. It must not block.
	OnOpen func(s *Session)
	// OnMessage receives every message packet of a session, in order, on
	// the goroutine reading that session (never two at once for one
	// session). Its Data is only valid during the call.
	OnMessage func(s *Session, p Packet)
	// OnClose is called exactly once per session after it closed.
	OnClose func(s *Session, reason CloseReason)
	// OnUpgrade is called when a session moved from polling to websocket.
	OnUpgrade func(s *Session)

	// Clock drives heartbeats and rate limits; default the real clock.
	// Socket deadlines always use the real time.
	Clock  clockwork.Clock
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1_000_000
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 4 * c.MaxPayload
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	for _, t := range c.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return c, fmt.Errorf("engineio: server config: unknown transport %q", t)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return c, fmt.Errorf("engineio: server config: allowed origin %q is not scheme://host[:port]", o)
		}
	}
	if c.RateLimit < 0 {
		return c, fmt.Errorf("engineio: server config: negative RateLimit")
	}
	if c.RateLimit > 0 && c.RateBurst <= 0 {
		c.RateBurst = max(10, int(2*c.RateLimit))
	}
	if c.MaxRateDelay <= 0 {
		c.MaxRateDelay = time.Second
	}
	if c.MaxSessions < 0 || c.MaxSessionsPerAddr < 0 {
		return c, fmt.Errorf("engineio: server config: negative session bound")
	}
	if c.ClientAddr == nil {
		c.ClientAddr = remoteHost
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ServerStats counts the open sessions by transport, and the handshakes
// refused by the session bounds since the start.
type ServerStats struct {
	Sessions  int
	WebSocket int
	Polling   int
	Upgrading int // polling sessions with a websocket probe in progress
	// RefusedTotal and RefusedPerAddr count handshakes refused by
	// MaxSessions and MaxSessionsPerAddr.
	RefusedTotal, RefusedPerAddr uint64
}

// Server is the server side of Engine.IO v4: an http.Handler for the
// endpoint path that opens sessions over HTTP long-polling or websocket,
// upgrades polling sessions, pings them and enforces the payload and rate
// limits.
//
// Goroutines: an idle websocket session has none. Once the HTTP request
// that opened (or upgraded) it returns, it waits in the server's poller
// (signaling/internal/netpoll: one epoll instance and one goroutine), and a
// short-lived goroutine takes each message when one arrives; a websocket
// the poller cannot watch (TLS) is read by a goroutine of its own. A
// polling session has no goroutine of its own (its GET and POST requests
// do the work). Writes to a websocket are made by a flusher goroutine that
// exists only while packets are queued. Heartbeats are clock timers. Close
// ends every session and waits for all of them.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	clk clockwork.Clock
	// poll tells when an idle websocket has bytes (nil: every websocket
	// is read by a goroutine of its own).
	poll *netpoll.Poller

	mu       sync.Mutex // guards the fields below
	sessions map[string]*Session
	closed   bool
	// reserved counts the sessions of each client address, reserved at
	// the handshake and released when the session is removed; total is
	// their sum (sessions not yet registered included).
	reserved                     map[string]int
	total                        int
	refusedTotal, refusedPerAddr uint64

	wg sync.WaitGroup // websocket readers and flushers
}

// NewServer validates cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "engineio-server"),
		clk:      cfg.Clock,
		sessions: make(map[string]*Session),
		reserved: make(map[string]int),
	}
	if p, err := netpoll.New(); err != nil {
		s.log.Warn("no poller; each websocket gets a reader goroutine", "err", err)
	} else {
		s.poll = p
	}
	return s, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() ServerConfig { return s.cfg }

// Stats counts the open sessions.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	list := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	var st ServerStats
	s.mu.Lock()
	st.RefusedTotal, st.RefusedPerAddr = s.refusedTotal, s.refusedPerAddr
	s.mu.Unlock()
	for _, ss := range list {
		ss.mu.Lock()
		if ss.state != stateOpen {
			ss.mu.Unlock()
			continue
		}
		st.Sessions++
		if ss.transport == TransportWebSocket {
			st.WebSocket++
		} else {
			st.Polling++
			if ss.probe != nil {
				st.Upgrading++
			}
		}
		ss.mu.Unlock()
	}
	return st
}

// Session returns the open session with id sid, or nil.
func (s *Server) Session(sid string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

// Close ends every session with ReasonServerShutdown, refuses new ones and
// waits for the session goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	list := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.closeWith(ReasonServerShutdown, true)
	}
	s.wg.Wait()
	if s.poll != nil {
		_ = s.poll.Close()
	}
	return nil
}

// Engine.IO error codes as the Node server returns them in 400 answers
// ({"code": n, "message": "..."}).
const (
	codeUnknownTransport = 0
	codeUnknownSID       = 1
	codeBadHandshake     = 2
	codeBadRequest       = 3
	codeForbidden        = 4
	codeUnsupported      = 5
)

func writeError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ServeHTTP handles the Engine.IO endpoint. Requests outside Path get 404.
// A polling GET is held up to PingInterval, so the http.Server's
// WriteTimeout must be zero or longer than that.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.cfg.Path && r.URL.Path+"/" != s.cfg.Path {
		http.NotFound(w, r)
		return
	}
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, codeForbidden, "Forbidden: origin not allowed")
		return
	}
	s.cors(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, http.StatusBadRequest, codeUnsupported, "Unsupported protocol version")
		return
	}
	transport := q.Get("transport")
	if !contains(s.cfg.Transports, transport) {
		writeError(w, http.StatusBadRequest, codeUnknownTransport, "Transport unknown")
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		s.handshake(w, r, transport)
		return
	}
	ss := s.Session(sid)
	if ss == nil {
		writeError(w, http.StatusBadRequest, codeUnknownSID, "Session ID unknown")
		return
	}
	if transport == TransportWebSocket {
		s.serveUpgrade(w, r, ss)
		return
	}
	switch r.Method {
	case http.MethodGet:
		ss.servePoll(w, r)
	case http.MethodPost:
		ss.servePost(w, r)
	default:
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
	}
}

// originAllowed implements the origin policy of ServerConfig.AllowedOrigins.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// cors adds the headers the Node server's cors middleware sends for an
// allowed cross-origin request, credentials included, and answers
// preflights' header list.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		h.Set("Access-Control-Max-Age", "600")
	}
}

// newSID returns 20 URL-safe characters from 15 random bytes, the shape of
// the Node server's base64id.
func newSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// reserve counts a new session of addr against the bounds; false (and
// counted as refused) when one of them is reached.
func (s *Server) reserve(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.cfg.MaxSessions > 0 && s.total >= s.cfg.MaxSessions:
		s.refusedTotal++
		return false
	case s.cfg.MaxSessionsPerAddr > 0 && s.reserved[addr] >= s.cfg.MaxSessionsPerAddr:
		s.refusedPerAddr++
		return false
	}
	s.reserved[addr]++
	s.total++
	return true
}

// release gives back what reserve counted. s.mu is held.
func (s *Server) releaseLocked(addr string) {
	if n := s.reserved[addr]; n > 1 {
		s.reserved[addr] = n - 1
	} else {
		delete(s.reserved, addr)
	}
	s.total--
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusBadRequest, codeBadHandshake, "Bad handshake method")
		return
	}
	if transport == TransportWebSocket && !isWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: not a websocket handshake")
		return
	}
	addr := s.cfg.ClientAddr(r)
	if !s.reserve(addr) {
		s.log.Debug("handshake refused: too many sessions", "addr", addr)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, codeBadRequest, "Too many sessions")
		return
	}
	if transport == TransportWebSocket {
		ws, err := s.upgradeWS(w, r)
		if err != nil {
			s.mu.Lock()
			s.releaseLocked(addr)
			s.mu.Unlock()
			s.log.Debug("websocket handshake refused", "err", err)
			return // upgradeWS answered
		}
		ss, ok := s.newSession(r, addr, TransportWebSocket, ws)
		if !ok {
			_ = ws.writeClose(1001, "server shutting down") // going away
			_ = ws.close()
			return
		}
		s.readInBackground(ss, ws)
		return
	}
	ss, ok := s.newSession(r, addr, TransportPolling, nil)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, codeBadRequest, "server shutting down")
		return
	}
	// The open packet is the first answer of the handshake GET; anything
	// queued meanwhile (OnOpen may send) rides with it.
	ss.servePoll(w, r)
}

// openPacket builds the handshake (Engine.IO v4 "Handshake").
func (s *Server) openPacket(sid string, transport string) Packet {
	up := []string{}
	if transport == TransportPolling && !s.cfg.NoUpgrades && contains(s.cfg.Transports, TransportWebSocket) {
		up = append(up, TransportWebSocket)
	}
	b, _ := json.Marshal(Handshake{
		SID:          sid,
		Upgrades:     up,
		PingInterval: s.cfg.PingInterval.Milliseconds(),
		PingTimeout:  s.cfg.PingTimeout.Milliseconds(),
		MaxPayload:   s.cfg.MaxPayload,
	})
	return Packet{Type: Open, Data: b}
}

// newSession registers a session reserved for addr and queues its open
// packet; false (the reservation released) when the server is closed.
func (s *Server) newSession(r *http.Request, addr, transport string, ws *wsConn) (*Session, bool) {
	ss := newSession(s, r, transport, ws)
	ss.addr = addr
	s.mu.Lock()
	if s.closed {
		s.releaseLocked(addr)
		s.mu.Unlock()
		return nil, false
	}
	for s.sessions[ss.id] != nil { // 120 random bits: never in practice
		ss.id = newSID()
	}
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	open := s.openPacket(ss.id, transport)
	ss.mu.Lock()
	ss.queue = append(ss.queue, open)
	ss.queued += int64(open.EncodedLen()) + 1
	ss.mu.Unlock()
	if s.cfg.OnOpen != nil {
		s.cfg.OnOpen(ss)
	}
	ss.mu.Lock()
	ss.kick()
	ss.armHeartbeat(s.cfg.PingInterval)
	ss.mu.Unlock()
	return ss, true
}

func (s *Server) remove(ss *Session) {
	s.mu.Lock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
		s.releaseLocked(ss.addr)
	}
	s.mu.Unlock()
}

// serveUpgrade takes a websocket that joins polling session ss (Engine.IO
// v4 "Upgrade"): it answers "2probe" with "3probe", flushes the pending GET
// with a noop so the client can pause polling, and switches the session
// when the "5" upgrade packet arrives. A reader goroutine then reads the
// session until it ends.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, ss *Session) {
	ss.mu.Lock()
	refuse := ""
	switch {
	case s.cfg.NoUpgrades:
		refuse = "upgrades disabled"
	case ss.transport != TransportPolling:
		refuse = "already upgraded"
	case ss.probe != nil:
		refuse = "upgrade already in progress"
	case ss.state != stateOpen:
		refuse = "session closing"
	}
	ss.mu.Unlock()
	if refuse != "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: "+refuse)
		return
	}
	if !isWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: not a websocket handshake")
		return
	}
	ws, err := s.upgradeWS(w, r)
	if err != nil {
		s.log.Debug("websocket handshake refused", "err", err)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	ss.mu.Lock()
	if ss.probe != nil || ss.state != stateOpen || ss.transport != TransportPolling {
		ss.mu.Unlock()
		_ = ws.close()
		return
	}
	ss.probe = ws
	ss.mu.Unlock()
	if err := ss.runProbe(ws); err != nil {
		s.log.Debug("upgrade failed; session stays on polling", "sid", ss.id, "err", err)
		ss.mu.Lock()
		if ss.probe == ws {
			ss.probe = nil
		}
		ss.mu.Unlock()
		_ = ws.close()
		return
	}
	if s.cfg.OnUpgrade != nil {
		s.cfg.OnUpgrade(ss)
	}
	s.readInBackground(ss, ws)
}

// readInBackground reads ws after the HTTP handler returns, so net/http
// drops its per-connection state (request, 4 KiB read and write buffers, a
// grown stack; ~17 KiB measured). A plain TCP websocket then waits in the
// poller and is read by a short-lived goroutine per message (readReady);
// one that cannot be polled (TLS: crypto/tls keeps decrypted bytes epoll
// cannot see) gets a reader goroutine for its life.
func (s *Server) readInBackground(ss *Session, ws *wsConn) {
	if ws.poll(s.poll, func() { s.readReady(ss, ws) }) {
		if err := ws.arm(); err != nil {
			ss.closeWith(ReasonTransportError, false)
			_ = ws.close()
		}
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.recoverReader(ss, ws)
		ss.readWebSocket(ws)
	}()
}

// readReady takes one message from a polled websocket that became readable
// and arms it again. Messages are taken one at a time, so they reach the
// session in order.
func (s *Server) readReady(ss *Session, ws *wsConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return // Close is waiting for the readers; the session is closing
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer s.recoverReader(ss, ws)
	// A peer that starts a message must finish it within a heartbeat; the
	// goroutine waits no longer than an idle peer is tolerated.
	ws.setReadDeadline(time.Now().Add(s.cfg.PingInterval + s.cfg.PingTimeout)) // the network's clock, not the injected one
	if !ss.readOneWS(ws) {
		return
	}
	if err := ws.arm(); err != nil {
		ss.closeWith(ReasonTransportError, false)
		_ = ws.close()
	}
}

// recoverReader contains a bug in a message handler to its connection:
// net/http would have contained it in the handler goroutine.
func (s *Server) recoverReader(ss *Session, ws *wsConn) {
	if v := recover(); v != nil {
		s.log.Error("panic reading a websocket session; closing it", "sid", ss.id, "panic", v, "stack", string(debug.Stack()))
		ss.closeWith(ReasonTransportError, false)
		_ = ws.close()
	}
}

// errUpgradeProtocol reports a probe websocket that broke the sequence.
var errUpgradeProtocol = errors.New("engineio: bad upgrade sequence")
