package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/signaling/engineio"
)

// DisconnectReason says why a server-side socket left, with socket.io 4.8's
// wording (the "disconnect" event's reason).
type DisconnectReason string

// Disconnect reasons of socket.io 4.8.
const (
	ReasonClientDisconnect DisconnectReason = "client namespace disconnect" // the client sent DISCONNECT
	ReasonServerDisconnect DisconnectReason = "server namespace disconnect" // Socket.Disconnect
	ReasonTransportClose   DisconnectReason = "transport close"
	ReasonTransportError   DisconnectReason = "transport error"
	ReasonPingTimeout      DisconnectReason = "ping timeout"
	ReasonForcedClose      DisconnectReason = "forced close"
	ReasonServerShutdown   DisconnectReason = "server shutting down"
	ReasonParseError       DisconnectReason = "parse error"
	ReasonRateLimited      DisconnectReason = "rate limited" // ours (engineio.ReasonRateLimited)
)

func (r DisconnectReason) String() string { return string(r) }

// Recoverable reports whether socket.io 4.8 keeps the session for
// connection state recovery after this reason (socket.ts
// RECOVERABLE_DISCONNECT_REASONS): only losses of the transport, never a
// disconnect that either side asked for.
func (r DisconnectReason) Recoverable() bool {
	switch r {
	case ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, ReasonForcedClose, ReasonServerShutdown:
		return true
	}
	return false
}

// RecoveryConfig configures connection state recovery (socket.io 4.8
// connectionStateRecovery).
type RecoveryConfig struct {
	// Disabled turns recovery off: CONNECT replies carry no pid and
	// broadcasts no offset.
	Disabled bool
	// Window is maxDisconnectionDuration: how long a lost session (id,
	// rooms, data) and the broadcasts it missed are kept (default 2 min).
	Window time.Duration
	// Reauthorize runs Authorize again for a recovering CONNECT (socket.io's
	// skipMiddlewares: false). By default it is skipped, as the official
	// server does with skipMiddlewares: true.
	Reauthorize bool
	// MaxPackets (default 100000) and MaxBytes (default 64 MiB) bound the
	// broadcasts kept for recovery, oldest dropped first; a session whose
	// offset was dropped is not recovered.
	MaxPackets int
	MaxBytes   int64
	// MaxReplayBytes bounds what one recovering socket is sent at once
	// (default half of the Engine.IO MaxBuffered): a socket that missed
	// more is not recovered but starts a new session, rather than being
	// closed again by its own send buffer as soon as it is back (issue 12).
	MaxReplayBytes int64
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Engine configures the Engine.IO server (path, heartbeat, maxPayload,
	// CORS origins, rate limit, clock). Its OnMessage belongs to the Server
	// and must be nil; OnOpen, OnClose and OnUpgrade, when set, are called
	// after the Server's own handling (metrics: sessions by transport).
	Engine engineio.ServerConfig
	// Authorize checks a CONNECT's auth payload (the raw JSON object, "{}"
	// when absent) against the handshake request. The data it returns is the
	// socket's Data; an error refuses the CONNECT with CONNECT_ERROR
	// {"message": err.Error()} (e.g. "session_expired", "unauthorized",
	// "invite_invalid"), with "data" when the error has a
	// ConnectErrorData() any method (socket.io's err.data). It runs on the connection's reader goroutine. Nil
	// accepts every CONNECT.
	Authorize func(auth json.RawMessage, req *http.Request) (data any, err error)
	// Recovery configures connection state recovery; on by default.
	Recovery RecoveryConfig
	// ConnectTimeout closes an Engine.IO session that has not connected a
	// namespace in time (default 45 s, socket.io's connectTimeout).
	ConnectTimeout time.Duration
	// AckTimeout is EmitWithAck's timeout when its context has none
	// (default 10 s).
	AckTimeout time.Duration

	// OnConnection runs for every connected socket, recovered ones included
	// (socket.io's "connection"), on the connection's reader goroutine
	// before any event of the socket is handled.
	OnConnection func(s *Socket)
	// OnDisconnecting runs when a socket leaves, while it is still in its
	// rooms (socket.io's "disconnecting").
	OnDisconnecting func(s *Socket, reason DisconnectReason)
	// OnDisconnect runs after the socket left its rooms.
	OnDisconnect func(s *Socket, reason DisconnectReason)

	Clock  clockwork.Clock // default Engine.Clock, else the real clock
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	if c.Engine.OnMessage != nil {
		return c, fmt.Errorf("socketio: server config: Engine.OnMessage is the Server's")
	}
	if c.Clock == nil {
		c.Clock = c.Engine.Clock
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Engine.Clock == nil {
		c.Engine.Clock = c.Clock
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	if c.Recovery.Window <= 0 {
		c.Recovery.Window = 2 * time.Minute
	}
	if c.Recovery.MaxPackets <= 0 {
		c.Recovery.MaxPackets = 100_000
	}
	if c.Recovery.MaxBytes <= 0 {
		c.Recovery.MaxBytes = 64 << 20
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.Recovery.MaxReplayBytes <= 0 {
		// The engine's defaults, as engineio fills them in.
		maxBuf := c.Engine.MaxBuffered
		if maxBuf <= 0 {
			p := c.Engine.MaxPayload
			if p <= 0 {
				p = 1_000_000
			}
			maxBuf = 4 * p
		}
		c.Recovery.MaxReplayBytes = maxBuf / 2
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
	return c, nil
}

// EventHandler handles an event from a client socket. ack is nil unless
// the client asked for an acknowledgement; calling it more than once has no
// effect. Handlers run on the socket's reader goroutine, one at a time per
// socket: a slow handler slows only that client. A handler must not wait
// for an acknowledgement from its own socket (use EmitWithAckFunc there).
type EventHandler func(s *Socket, args Args, ack func(args ...any))

// Server is the server side of Socket.IO v5 on the default namespace "/":
// CONNECT with an authorizer, events and acknowledgements both ways with
// binary attachments, rooms and broadcasts, and connection state recovery
// as socket.io 4.8 does it. It is an http.Handler for the Engine.IO path.
//
// Ownership: each connection's packets are decoded and its handlers run on
// the goroutine reading it (engineio.Server); mu guards the socket table,
// the rooms and the recovery state; a Socket's own mu guards its data and
// pending acks. Run owns the recovery sweep.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	clk clockwork.Clock
	eng *engineio.Server

	hmu      sync.RWMutex // guards handlers
	handlers map[string]EventHandler

	mu      sync.Mutex // guards the fields below, Socket.rooms and recovery
	sockets map[string]*Socket
	rooms   map[string]map[*Socket]struct{}
	rec     recovery
}

// NewServer validates cfg and returns a Server. Mount it (ServeHTTP) on the
// Engine.IO path and call Run.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "socketio-server"),
		clk:      cfg.Clock,
		handlers: make(map[string]EventHandler),
		sockets:  make(map[string]*Socket),
		rooms:    make(map[string]map[*Socket]struct{}),
	}
	s.rec.init(newID()[:8])
	ecfg := cfg.Engine
	userOpen, userClose := ecfg.OnOpen, ecfg.OnClose
	ecfg.OnOpen = func(es *engineio.Session) {
		s.onOpen(es)
		if userOpen != nil {
			userOpen(es)
		}
	}
	ecfg.OnMessage = s.onMessage
	ecfg.OnClose = func(es *engineio.Session, reason engineio.CloseReason) {
		s.onClose(es, reason)
		if userClose != nil {
			userClose(es, reason)
		}
	}
	s.eng, err = engineio.NewServer(ecfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Engine is the underlying Engine.IO server (stats, config).
func (s *Server) Engine() *engineio.Server { return s.eng }

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eng.ServeHTTP(w, r) }

// Run sweeps expired recovery state until ctx ends, then closes every
// connection (reason "server shutting down") and returns nil.
func (s *Server) Run(ctx context.Context) error {
	t := s.clk.NewTicker(max(s.cfg.Recovery.Window/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Close()
		case <-t.Chan():
			s.mu.Lock()
			s.rec.sweep(s.clk.Now(), s.cfg.Recovery.Window)
			s.mu.Unlock()
		}
	}
}

// Close closes every connection and waits for their goroutines.
func (s *Server) Close() error { return s.eng.Close() }

// On registers the handler of an event for every socket, replacing any
// earlier one. Events without a handler are ignored, as socket.io does.
func (s *Server) On(event string, h EventHandler) {
	s.hmu.Lock()
	s.handlers[event] = h
	s.hmu.Unlock()
}

func (s *Server) handler(event string) EventHandler {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	return s.handlers[event]
}

// Socket returns the connected socket with this id, or nil.
func (s *Server) Socket(id string) *Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sockets[id]
}

// Sockets returns every connected socket.
func (s *Server) Sockets() []*Socket { return s.To().Sockets() }

// Count is the number of connected sockets.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets)
}

// To selects the sockets in any of rooms (all sockets without rooms) for a
// broadcast (io.to(room)).
func (s *Server) To(rooms ...string) Broadcast {
	return Broadcast{srv: s, rooms: append([]string(nil), rooms...)}
}

// Emit broadcasts an event to every socket (io.emit).
func (s *Server) Emit(event string, args ...any) error { return s.To().Emit(event, args...) }

// newID returns 20 URL-safe random characters (socket.io's base64id shape).
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ---- Engine.IO callbacks ----

// conn is one Engine.IO session as the Socket.IO layer sees it (socket.io's
// Client). dec is used only on the session's reader; mu guards sock and
// timer.
type conn struct {
	srv *Server
	es  *engineio.Session
	dec Decoder

	mu    sync.Mutex
	sock  *Socket
	timer clockwork.Timer
}

func (s *Server) onOpen(es *engineio.Session) {
	c := &conn{srv: s, es: es}
	c.dec.MaxBytes = s.eng.Config().MaxPayload
	c.timer = s.clk.AfterFunc(s.cfg.ConnectTimeout, func() {
		c.mu.Lock()
		idle := c.sock == nil
		c.mu.Unlock()
		if idle {
			s.log.Debug("no namespace connected in time; closing", "sid", es.ID())
			_ = es.Close()
		}
	})
	es.SetData(c)
}

func (s *Server) onClose(es *engineio.Session, reason engineio.CloseReason) {
	c, _ := es.Data().(*conn)
	if c == nil {
		return
	}
	c.mu.Lock()
	sock := c.sock
	c.sock = nil
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	if sock != nil {
		sock.leave(DisconnectReason(reason))
	}
}

func (s *Server) onMessage(es *engineio.Session, ep engineio.Packet) {
	c, _ := es.Data().(*conn)
	if c == nil {
		return
	}
	var p *Packet
	var err error
	if c.socket() == nil && (ep.Binary || (len(ep.Data) > 0 && (ep.Data[0] == '0'+byte(BinaryEvent) || ep.Data[0] == '0'+byte(BinaryAck)))) {
		// Nothing binary is taken from a client that has not connected a
		// namespace: its attachments would be held for no socket (issue 12,
		// 5.6 MiB per unauthenticated connection).
		s.log.Debug("binary packet before CONNECT; closing", "sid", es.ID())
		c.fail(ReasonParseError)
		return
	}
	if ep.Binary {
		// The transport may reuse its buffer: keep a copy.
		p, err = c.dec.AddBinary(append([]byte(nil), ep.Data...))
	} else {
		p, err = c.dec.AddText(ep.Data)
	}
	if err != nil {
		s.log.Debug("bad packet; closing", "sid", es.ID(), "err", err)
		c.fail(ReasonParseError)
		return
	}
	if p != nil {
		c.onPacket(p)
	}
}

// fail drops the connection: the socket leaves with reason and the
// Engine.IO session closes.
func (c *conn) fail(reason DisconnectReason) {
	c.mu.Lock()
	sock := c.sock
	c.sock = nil
	c.mu.Unlock()
	if sock != nil {
		sock.leave(reason)
	}
	_ = c.es.Close()
}

func (c *conn) socket() *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sock
}

func (c *conn) onPacket(p *Packet) {
	if p.nsp() != "/" {
		if p.Type == Connect {
			// socket.io answers a CONNECT to an unknown namespace so.
			_ = c.sendPacket(&Packet{Type: ConnectError, Namespace: p.nsp(), ID: NoID, Data: json.RawMessage(`{"message":"Invalid namespace"}`)})
		}
		return
	}
	if p.Type == Connect {
		c.onConnect(p)
		return
	}
	sock := c.socket()
	if sock == nil {
		return // no socket on "/": socket.io ignores the packet
	}
	switch p.Type {
	case Disconnect:
		c.mu.Lock()
		if c.sock == sock {
			c.sock = nil
		}
		c.mu.Unlock()
		sock.leave(ReasonClientDisconnect)
	case Event, BinaryEvent:
		sock.onEvent(p)
	case Ack, BinaryAck:
		sock.onAck(p)
	}
}

// sendPacket queues one Socket.IO packet and its attachments as a unit.
func (c *conn) sendPacket(p *Packet) error {
	return c.sendEncoded(p.AppendText(make([]byte, 0, 16+len(p.Data))), p.Attachments)
}

// trySendPacket queues p only if the session can take it without closing
// (engineio.Session.TrySend).
func (c *conn) trySendPacket(p *Packet) error {
	pkts := make([]engineio.Packet, 0, 1+len(p.Attachments))
	pkts = append(pkts, engineio.Packet{Type: engineio.Message, Data: p.AppendText(make([]byte, 0, 16+len(p.Data)))})
	for _, a := range p.Attachments {
		pkts = append(pkts, engineio.Packet{Type: engineio.Message, Data: a, Binary: true})
	}
	return c.es.TrySend(pkts...)
}

func (c *conn) sendEncoded(text []byte, attachments [][]byte) error {
	if len(attachments) == 0 {
		return c.es.Send(engineio.Packet{Type: engineio.Message, Data: text})
	}
	pkts := make([]engineio.Packet, 0, 1+len(attachments))
	pkts = append(pkts, engineio.Packet{Type: engineio.Message, Data: text})
	for _, a := range attachments {
		pkts = append(pkts, engineio.Packet{Type: engineio.Message, Data: a, Binary: true})
	}
	return c.es.Send(pkts...)
}

// onConnect handles a CONNECT to "/": recovery when the auth carries a
// known pid and offset, else the authorizer; then the CONNECT reply.
func (c *conn) onConnect(p *Packet) {
	s := c.srv
	if c.socket() != nil {
		return // already connected on "/"
	}
	auth := p.Data
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	prev, missed := s.restore(auth)
	data, ok := c.authorize(auth, prev)
	if !ok {
		return
	}
	sock := &Socket{srv: s, c: c, auth: auth, data: data}
	if prev != nil {
		sock.id, sock.pid, sock.recovered = prev.sid, prev.pid, true
	} else {
		sock.id = newID()
		if !s.cfg.Recovery.Disabled {
			sock.pid = newID()
		}
	}
	s.register(sock, prev)
	c.mu.Lock()
	c.sock = sock
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	if !c.replyConnect(sock, missed) {
		return
	}
	s.log.Debug("socket connected", "id", sock.id, "sid", c.es.ID(), "recovered", sock.recovered, "missed", len(missed))
	if s.cfg.OnConnection != nil {
		s.cfg.OnConnection(sock)
	}
}

// restore finds the session a reconnecting client names by pid and offset
// in its auth (connection state recovery) and the broadcasts it missed;
// nil when recovery is off or nothing matches.
func (s *Server) restore(auth json.RawMessage) (*session, []*logged) {
	if s.cfg.Recovery.Disabled {
		return nil, nil
	}
	var ids struct {
		PID    any `json:"pid"`
		Offset any `json:"offset"`
	}
	_ = json.Unmarshal(auth, &ids)
	pid, ok1 := ids.PID.(string)
	off, ok2 := ids.Offset.(string)
	if !ok1 || !ok2 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.restore(pid, off, s.clk.Now(), s.cfg.Recovery.Window, s.cfg.Recovery.MaxReplayBytes)
}

// connectErrorData is an Authorize error that carries CONNECT_ERROR's
// data (socket.io's err.data, e.g. when to try again).
type connectErrorData interface {
	error
	ConnectErrorData() any
}

// authorize runs the authorizer for a new socket, or for a recovered one
// when Reauthorize says so, and returns the socket's data; false after a
// refusal, which it has answered with CONNECT_ERROR.
func (c *conn) authorize(auth json.RawMessage, prev *session) (any, bool) {
	s := c.srv
	var data any
	if prev != nil {
		data = prev.data
	}
	if s.cfg.Authorize == nil || (prev != nil && !s.cfg.Recovery.Reauthorize) {
		return data, true
	}
	d, err := s.cfg.Authorize(auth, c.es.Request())
	if err != nil {
		body := map[string]any{"message": err.Error()}
		var cd connectErrorData
		if errors.As(err, &cd) {
			// socket.io's err.data: next(err) with err.data set.
			if v := cd.ConnectErrorData(); v != nil {
				body["data"] = v
			}
		}
		msg, _ := json.Marshal(body)
		_ = c.sendPacket(&Packet{Type: ConnectError, Namespace: "/", ID: NoID, Data: msg})
		s.log.Debug("connect refused", "sid", c.es.ID(), "err", err)
		return nil, false
	}
	if prev == nil || d != nil {
		data = d
	}
	return data, true
}

// register adds sock to the server and to its own room, and to prev's
// rooms when it recovers that session. It runs before the CONNECT reply,
// so a broadcast right after the client sees "connect" reaches it.
func (s *Server) register(sock *Socket, prev *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.sockets[sock.id]; old != nil {
		// The id is still connected (a half-open old transport): socket.io
		// would not have found a session to restore either.
		prev, sock.recovered = nil, false
		sock.id, sock.pid = newID(), newID()
	}
	s.sockets[sock.id] = sock
	sock.connected.Store(true)
	if prev != nil {
		for _, r := range prev.rooms {
			s.joinLocked(sock, r)
		}
	}
}

// replyConnect sends the CONNECT reply (sid, and pid for recovery), then
// the broadcasts the socket missed, each with its offset. False if the
// reply could not be queued: the socket has left.
func (c *conn) replyConnect(sock *Socket, missed []*logged) bool {
	reply := struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{sock.id, sock.pid}
	b, _ := json.Marshal(reply)
	if err := c.sendPacket(&Packet{Type: Connect, Namespace: "/", ID: NoID, Data: b}); err != nil {
		sock.leave(ReasonTransportError)
		return false
	}
	for _, m := range missed {
		if err := c.sendEncoded(m.text, m.attachments); err != nil {
			break
		}
	}
	return true
}

// joinLocked adds sock to room; s.mu is held.
func (s *Server) joinLocked(sock *Socket, room string) {
	if sock.inLocked(room) {
		return // already in it, or its own id (implicit, inLocked)
	}
	if sock.rooms == nil {
		sock.rooms = make(map[string]struct{}, 1)
	}
	sock.rooms[room] = struct{}{}
	m := s.rooms[room]
	if m == nil {
		m = make(map[*Socket]struct{}, 1)
		s.rooms[room] = m
	}
	m[sock] = struct{}{}
}

// leaveLocked removes sock from room; s.mu is held.
func (s *Server) leaveLocked(sock *Socket, room string) {
	if _, ok := sock.rooms[room]; !ok {
		return
	}
	delete(sock.rooms, room)
	if m := s.rooms[room]; m != nil {
		delete(m, sock)
		if len(m) == 0 {
			delete(s.rooms, room)
		}
	}
}
