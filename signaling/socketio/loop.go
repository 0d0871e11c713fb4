package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/backoff"
	"tether/signaling/engineio"
)

// loop is the state owned by Run's goroutine. Nothing else touches it:
// other goroutines send closures on Client.cmds or results on the channels
// below, tagged with the generation they belong to.
type loop struct {
	c   *Client
	cfg *Config
	ctx context.Context

	state     State
	gen       uint64          // bumped for every attempt; stale results are dropped
	engine    engineio.Config // of the current attempt (Config.URL)
	conn      *engineio.Conn
	transport string
	dec       Decoder
	nsOpen    bool // the namespace CONNECT was answered
	hookBusy  bool // the connect hook is running; user emits wait
	sid, pid  string
	offset    string
	// pidAuth is the server URL and auth payload (JSON) of the connection
	// that gave pid; connAuth those of the CONNECT in flight. Recovery
	// state belongs to one identity: a CONNECT to another server or with
	// other auth never presents it.
	pidAuth, connAuth string
	preferred         string // the transport that worked last

	backoff       backoff.Backoff
	attempt       int // reconnection attempt number; 0 for a first connect
	everConnected bool
	lastErr       error
	probing       bool
	probeBusy     bool
	liveBusy      bool

	timer  clockwork.Timer
	timerC <-chan time.Time
	probeT clockwork.Ticker
	probeC <-chan time.Time

	nextID int64
	acks   map[int64]*emitReq
	buffer []*emitReq

	dialRes  chan dialResult
	hookRes  chan genErr
	liveRes  chan genErr
	probeRes chan genErr
	quit     chan struct{}
	wg       sync.WaitGroup
	disp     *dispatcher
	fatal    error
}

type dialResult struct {
	gen       uint64
	conn      *engineio.Conn
	transport string
	err       error
}

type genErr struct {
	gen uint64
	err error
}

// Run connects and keeps the client connected until ctx ends (nil is then
// returned), or, without Persistent, until the server refuses or closes the
// socket (that error is returned).
func (c *Client) Run(ctx context.Context) error {
	l := &loop{
		c:        c,
		cfg:      &c.cfg,
		ctx:      ctx,
		acks:     make(map[int64]*emitReq),
		dialRes:  make(chan dialResult),
		hookRes:  make(chan genErr),
		liveRes:  make(chan genErr),
		probeRes: make(chan genErr),
		quit:     make(chan struct{}),
		disp:     newDispatcher(),
		backoff: backoff.Backoff{
			Min: c.cfg.ReconnectionDelay, Max: c.cfg.ReconnectionDelayMax,
			Factor: 2, Jitter: c.cfg.RandomizationFactor, Rand: c.cfg.Rand,
		},
	}
	l.wg.Add(1)
	go func() { defer l.wg.Done(); l.disp.run() }()
	l.startAttempt()
	for l.fatal == nil {
		var pkts <-chan engineio.Packet
		var connDone <-chan struct{}
		if l.conn != nil {
			pkts, connDone = l.conn.Packets(), l.conn.Done()
		}
		select {
		case <-ctx.Done():
			l.shutdown(nil)
			return nil
		case f := <-c.cmds:
			f(l)
		case r := <-l.dialRes:
			l.onDial(r)
		case p := <-pkts:
			l.onEnginePacket(p)
		case <-connDone:
			l.onConnDone()
		case <-l.timerC:
			l.timerC = nil
			l.onTimer()
		case <-l.probeC:
			l.onProbeTick()
		case r := <-l.probeRes:
			l.onProbe(r)
		case r := <-l.hookRes:
			l.onHook(r)
		case r := <-l.liveRes:
			l.onLiveness(r)
		case <-c.cfg.NetworkChanged:
			l.onNetwork()
		case <-c.upgraded:
			if l.conn != nil && l.conn.Transport() != l.transport {
				l.transport = l.conn.Transport()
				l.preferred = l.transport
				l.c.log.Info("upgraded", "transport", l.transport)
				l.setState(l.state)
			}
		}
	}
	err := l.fatal
	l.shutdown(err)
	return err
}

// ---- state and reporting ----

func (l *loop) setState(s State) {
	c := l.c
	c.statusMu.Lock()
	if c.status.State != s {
		c.status.Since = c.clk.Now()
	}
	c.status.State = s
	c.status.Transport = l.transport
	c.status.SID = l.sid
	c.status.Attempt = l.attempt
	if l.lastErr != nil {
		c.status.LastError = l.lastErr.Error()
	}
	st := c.status
	c.statusMu.Unlock()
	if s != l.state {
		c.log.Info("state", "from", l.state, "to", s, "attempt", l.attempt, "transport", l.transport)
	}
	l.state = s
	if c.cfg.OnStatus != nil {
		c.cfg.OnStatus(st)
	}
}

func (l *loop) count(f func(*Status)) {
	l.c.statusMu.Lock()
	f(&l.c.status)
	l.c.statusMu.Unlock()
}

func (l *loop) event(e ManagerEvent) {
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(e)
	}
}

// ---- timers (all on the injected clock) ----

func (l *loop) setTimer(d time.Duration) {
	l.stopTimer()
	l.timer = l.c.clk.NewTimer(d)
	l.timerC = l.timer.Chan()
}

func (l *loop) stopTimer() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer, l.timerC = nil, nil
	}
}

func (l *loop) stopProbe() {
	if l.probeT != nil {
		l.probeT.Stop()
		l.probeT, l.probeC = nil, nil
	}
	l.probing = false
}

// ---- connecting ----

// transportOrder puts the transport that worked last first, so a network
// that blocks WebSocket does not cost a failed attempt every time; a
// polling session still upgrades when WebSocket works again.
func (l *loop) transportOrder() []string {
	order := append([]string(nil), l.cfg.Transports...)
	for i, t := range order {
		if t == l.preferred && i > 0 {
			copy(order[1:i+1], order[:i])
			order[0] = t
		}
	}
	if l.cfg.NoTryAllTransports {
		order = order[:1]
	}
	return order
}

func (l *loop) startAttempt() {
	l.stopTimer()
	l.stopProbe()
	l.gen++
	gen := l.gen
	l.setState(Connecting)
	order := l.transportOrder()
	eng, engErr := l.engineConfig()
	l.engine = eng
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		var errs []error
		if engErr != nil {
			errs, order = append(errs, engErr), nil
		}
		for _, t := range order {
			conn, err := engineio.Dial(l.ctx, eng, t, l.c.http)
			if err == nil {
				select {
				case l.dialRes <- dialResult{gen: gen, conn: conn, transport: t}:
				case <-l.quit:
					conn.Close()
				}
				return
			}
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
			if l.ctx.Err() != nil {
				break
			}
		}
		select {
		case l.dialRes <- dialResult{gen: gen, err: errors.Join(errs...)}:
		case <-l.quit:
		}
	}()
}

// engineConfig is the Engine.IO configuration of the next attempt, on the
// server Config.URL names now.
func (l *loop) engineConfig() (engineio.Config, error) {
	eng := l.cfg.Engine
	if l.cfg.URL == nil {
		return eng, nil
	}
	if u := l.cfg.URL(); u != "" && u != eng.URL {
		eng.URL = u
		return eng.WithDefaults()
	}
	return eng, nil
}

func (l *loop) onDial(r dialResult) {
	if r.gen != l.gen || l.state != Connecting {
		if r.conn != nil {
			r.conn.Close()
		}
		return
	}
	if r.err != nil {
		l.attemptFailed(r.err)
		return
	}
	l.conn, l.transport, l.preferred = r.conn, r.transport, r.transport
	l.dec.Reset()
	l.nsOpen = false
	// Socket.IO v5 CONNECT with the auth payload, plus the session to
	// recover when the server offered recovery ("Connection state
	// recovery": pid and the last offset).
	auth := map[string]any{}
	if l.cfg.Auth != nil {
		for k, v := range l.cfg.Auth() {
			auth[k] = v
		}
	}
	key, err := json.Marshal(auth) // maps marshal with sorted keys: a stable identity
	if err != nil {
		l.attemptFailed(fmt.Errorf("socketio: auth payload: %w", err))
		return
	}
	l.connAuth = l.engine.URL + " " + string(key)
	if l.pid != "" && l.pidAuth != l.connAuth {
		// New credentials are a new identity (possibly another account):
		// the server must not hand it the old session (with
		// skipMiddlewares it would not even check the new token).
		l.c.log.Info("server or auth changed: not recovering the previous session")
		l.forgetSession()
	}
	if l.pid != "" {
		auth["pid"] = l.pid
		auth["offset"] = l.offset
	}
	data, err := json.Marshal(auth)
	if err != nil {
		l.attemptFailed(fmt.Errorf("socketio: auth payload: %w", err))
		return
	}
	if err := l.writePacket(&Packet{Type: Connect, Namespace: l.cfg.Namespace, ID: NoID, Data: data}); err != nil {
		l.attemptFailed(err)
		return
	}
	l.setTimer(l.cfg.ConnectTimeout)
	l.setState(Connecting)
}

// attemptFailed handles an attempt that ended before the namespace
// connected.
func (l *loop) attemptFailed(err error) {
	l.closeConn()
	l.lastErr = err
	l.c.log.Warn("connect failed", "attempt", l.attempt, "err", err)
	if l.everConnected || l.attempt > 0 {
		l.event(ManagerEvent{Kind: EventReconnectError, Attempt: l.attempt, Err: err})
	} else {
		l.event(ManagerEvent{Kind: EventConnectError, Err: err})
	}
	l.scheduleReconnect(err)
}

// scheduleReconnect waits the next backoff delay (socket.io-client's
// Manager.reconnect). When the failure says nothing listens on the server's
// port, the port is probed meanwhile so the attempt starts as soon as the
// server is back: a refused SYN costs the server nothing, and a server that
// accepts connections is protected by the backoff as usual.
func (l *loop) scheduleReconnect(err error) {
	if l.cfg.ReconnectionAttempts > 0 && l.backoff.Attempts() >= l.cfg.ReconnectionAttempts {
		l.event(ManagerEvent{Kind: EventReconnectFailed, Attempt: l.attempt, Err: err})
		l.fatal = fmt.Errorf("socketio: gave up after %d attempts: %w", l.attempt, err)
		return
	}
	d := l.backoff.Next()
	if ra := retryAfter(err); ra > d {
		d = ra // the server said when (the hub's busy); still counted as an attempt
	}
	l.attempt++
	l.setTimer(d)
	l.setState(Backoff)
	if l.cfg.ProbeInterval > 0 && refused(err) && l.probeAddr() != "" {
		l.probing = true
		l.probeT = l.c.clk.NewTicker(l.cfg.ProbeInterval)
		l.probeC = l.probeT.Chan()
	}
	l.c.log.Debug("backoff", "delay", d, "attempt", l.attempt, "probing", l.probing)
}

// refused reports a failure that says nothing listens or no route exists;
// a reset is not one of them (an overloaded server resets connections, and
// the backoff must protect it).
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH)
}

func (l *loop) onTimer() {
	switch l.state {
	case Backoff:
		l.count(func(s *Status) { s.Attempts++ })
		l.event(ManagerEvent{Kind: EventReconnectAttempt, Attempt: l.attempt})
		l.startAttempt()
	case Connecting:
		l.attemptFailed(fmt.Errorf("socketio: no CONNECT answer within %v: %w", l.cfg.ConnectTimeout, ErrAckTimeout))
	}
}

// probeAddr is host:port of the server when it is reached directly.
func (l *loop) probeAddr() string {
	u, err := url.Parse(l.engine.URL)
	if err != nil {
		return ""
	}
	if req, err := http.NewRequest(http.MethodGet, u.String(), nil); err == nil {
		if p, _ := l.engine.Proxy(req); p != nil {
			return "" // through a proxy the port says nothing about the hub
		}
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" || u.Scheme == "wss" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (l *loop) onProbeTick() {
	if !l.probing || l.probeBusy || l.state != Backoff {
		return
	}
	l.probeBusy = true
	gen, addr, timeout := l.gen, l.probeAddr(), l.cfg.ProbeInterval
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(l.ctx, "tcp", addr)
		if err == nil {
			conn.Close()
		}
		select {
		case l.probeRes <- genErr{gen, err}:
		case <-l.quit:
		}
	}()
}

func (l *loop) onProbe(r genErr) {
	l.probeBusy = false
	if r.gen != l.gen || l.state != Backoff || r.err != nil {
		return
	}
	// The server listens again. Spread a fleet's reconnects over one probe
	// interval so a restarted hub is not hit by all devices in the same
	// millisecond.
	l.stopProbe()
	l.setTimer(time.Duration(l.cfg.Rand() * float64(l.cfg.ProbeInterval)))
}

// ---- connected ----

func (l *loop) writePacket(p *Packet) error {
	if l.conn == nil {
		return ErrNotConnected
	}
	text := p.AppendText(make([]byte, 0, 16+len(p.Data)))
	if err := l.conn.Send(l.ctx, engineio.Packet{Type: engineio.Message, Data: text}); err != nil {
		return err
	}
	for _, a := range p.Attachments {
		if err := l.conn.Send(l.ctx, engineio.Packet{Type: engineio.Message, Data: a, Binary: true}); err != nil {
			return err
		}
	}
	return nil
}

func (l *loop) onEnginePacket(ep engineio.Packet) {
	var p *Packet
	var err error
	if ep.Binary {
		p, err = l.dec.AddBinary(ep.Data)
	} else {
		p, err = l.dec.AddText(ep.Data)
	}
	if err != nil {
		l.lost(fmt.Errorf("socketio: from server: %w", err))
		return
	}
	if p == nil {
		return
	}
	if p.nsp() != l.cfg.Namespace {
		return // another namespace multiplexed on the same session
	}
	switch p.Type {
	case Connect:
		l.onConnect(p)
	case ConnectError:
		l.onConnectError(p)
	case Disconnect:
		l.event(ManagerEvent{Kind: EventDisconnect, Err: ErrServerDisconnect})
		if !l.cfg.Persistent {
			l.closeConn()
			l.fatal = ErrServerDisconnect
			return
		}
		l.lost(ErrServerDisconnect)
	case Event, BinaryEvent:
		l.onEvent(p)
	case Ack, BinaryAck:
		req := l.acks[p.ID]
		if req == nil {
			return // timed out already, or a stray id
		}
		delete(l.acks, p.ID)
		_, args, err := ParseArgs(p.Data, p.Attachments, false)
		req.ack <- ackResult{args: args, err: err}
	}
}

func (l *loop) onConnect(p *Packet) {
	if l.nsOpen {
		return
	}
	var d struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if err := json.Unmarshal(p.Data, &d); err != nil || d.SID == "" {
		l.attemptFailed(fmt.Errorf("socketio: CONNECT answer without sid: %w", ErrMalformed))
		return
	}
	recovered := d.PID != "" && d.PID == l.pid
	l.pid, l.sid, l.pidAuth = d.PID, d.SID, l.connAuth
	if !recovered {
		l.offset = ""
	}
	l.nsOpen = true
	l.stopTimer()
	l.backoff.Reset()
	wasReconnect := l.everConnected
	attempt := l.attempt
	l.everConnected = true
	l.attempt = 0
	l.lastErr = nil
	l.count(func(s *Status) {
		s.Connects++
		if wasReconnect {
			s.Reconnects++
		}
		s.Recovered = recovered
	})
	l.setState(Connected)
	if wasReconnect {
		l.event(ManagerEvent{Kind: EventReconnect, Attempt: attempt, Transport: l.transport, Recovered: recovered})
	}
	l.event(ManagerEvent{Kind: EventConnect, Transport: l.transport, Recovered: recovered})
	if recovered || l.cfg.OnConnect == nil {
		if recovered && l.cfg.OnRecovered != nil {
			l.disp.push(l.cfg.OnRecovered)
		}
		l.flush()
		return
	}
	l.hookBusy = true
	gen := l.gen
	hctx := context.WithValue(l.ctx, hookKey{}, gen)
	l.disp.push(func() {
		err := l.cfg.OnConnect(hctx, recovered)
		select {
		case l.hookRes <- genErr{gen, err}:
		case <-l.quit:
		}
	})
}

func (l *loop) onHook(r genErr) {
	if r.gen != l.gen {
		return
	}
	l.hookBusy = false
	switch {
	case r.err == nil:
		l.flush()
	case errors.Is(r.err, ErrSessionExpired):
		l.sessionExpired(r.err)
	default:
		l.c.log.Warn("connect hook failed; reconnecting", "err", r.err)
		l.lost(fmt.Errorf("socketio: connect hook: %w", r.err))
	}
}

func (l *loop) onConnectError(p *Packet) {
	var d struct {
		Message string `json:"message"`
		Data    struct {
			RetryAfterMs int64 `json:"retryAfterMs"`
		} `json:"data"`
	}
	if json.Unmarshal(p.Data, &d) != nil {
		_ = json.Unmarshal(p.Data, &d.Message) // v2-style string payload
	}
	err := RetryAfterMs(d.Data.RetryAfterMs, fmt.Errorf("%w: %s", ErrConnectRefused, d.Message))
	if d.Message == l.cfg.SessionExpiredMessage {
		l.sessionExpired(fmt.Errorf("%w: %w", ErrSessionExpired, err))
		return
	}
	if !l.cfg.Persistent {
		l.event(ManagerEvent{Kind: EventConnectError, Err: err})
		l.closeConn()
		l.fatal = err
		return
	}
	l.attemptFailed(err)
}

func (l *loop) sessionExpired(err error) {
	l.closeConn()
	l.stopTimer()
	l.stopProbe()
	// An expired session is never recovered: the next connection, made
	// after a new login, verifies and joins again.
	l.forgetSession()
	l.lastErr = err
	l.attempt = 0
	l.c.log.Warn("session expired: not retrying until a new login", "err", err)
	l.failBuffer(err)
	l.setState(SessionExpired)
}

func (l *loop) resume() {
	if l.state != SessionExpired {
		return
	}
	l.backoff.Reset()
	l.lastErr = nil
	l.startAttempt()
}

// forgetSession drops the connection-state-recovery state (Socket.IO's
// pid and offset), so the next CONNECT asks for a new session and the
// connect hook runs on it.
func (l *loop) forgetSession() {
	l.pid, l.offset, l.pidAuth = "", "", ""
}

// newIdentity handles a new login: the old session is left for good (a
// DISCONNECT is queued to tell the server, best effort: the Engine.IO
// close does not wait for it, and correctness does not depend on it since
// the old pid is never presented again), its recovery state is forgotten
// and a new connection starts at once from any state. An attempt in
// flight is abandoned: it may have sent the old credentials.
func (l *loop) newIdentity() {
	if l.nsOpen {
		if err := l.writePacket(&Packet{Type: Disconnect, Namespace: l.cfg.Namespace, ID: NoID}); err != nil {
			l.c.log.Debug("disconnect before new identity", "err", err)
		}
	}
	l.forgetSession()
	switch l.state {
	case Connected, Connecting:
		l.dropConn(errors.New("socketio: new identity"))
	case Disconnected:
		return // Run has ended
	}
	l.backoff.Reset()
	l.attempt = 0
	l.lastErr = nil
	l.failBuffer(fmt.Errorf("socketio: buffered under the previous identity: %w", ErrNotConnected))
	l.startAttempt()
}

func (l *loop) reconnectNow(reason error) {
	switch l.state {
	case Connected:
		l.dropConn(reason)
		l.startAttempt()
	case Backoff:
		l.startAttempt()
	}
}

func (l *loop) onEvent(p *Packet) {
	name, args, err := ParseArgs(p.Data, p.Attachments, true)
	if err != nil {
		l.c.log.Warn("bad event from server", "err", err)
		return
	}
	// With connection state recovery the server appends the packet's
	// offset as a last string argument (socket.io-client's emitEvent).
	if l.pid != "" && args.Len() > 0 {
		var off string
		if json.Unmarshal(args.Raw(args.Len()-1), &off) == nil {
			l.offset = off
		}
	}
	l.c.handlersMu.RLock()
	h := l.c.handlers[name]
	l.c.handlersMu.RUnlock()
	if h == nil {
		l.c.log.Debug("unhandled event", "event", name)
		return
	}
	var ack func(...any)
	if p.ID >= 0 {
		ack = l.ackFunc(p.ID)
	}
	l.disp.push(func() { h(args, ack) })
}

// ackFunc answers a server's event once, on the connection it came from.
func (l *loop) ackFunc(id int64) func(...any) {
	gen := l.gen
	var once sync.Once
	return func(args ...any) {
		once.Do(func() {
			l.c.do(func(l *loop) {
				if gen != l.gen || !l.nsOpen {
					return
				}
				data, bufs, err := EncodeArgs("", args)
				if err != nil {
					l.c.log.Warn("ack encode", "err", err)
					return
				}
				p := &Packet{Type: Ack, Namespace: l.cfg.Namespace, ID: id, Data: data, Attachments: bufs}
				if len(bufs) > 0 {
					p.Type = BinaryAck
				}
				if err := l.writePacket(p); err != nil {
					l.c.log.Debug("ack send", "err", err)
				}
			})
		})
	}
}

// ---- emits ----

func (l *loop) emit(req *emitReq) error {
	switch {
	case l.state == Connected && l.nsOpen && (!l.hookBusy || req.bypass):
		return l.send(req)
	case req.bypass:
		return ErrNotConnected // the hook's connection is gone
	case req.volatile:
		return ErrNotConnected
	case len(l.buffer) >= l.cfg.SendBuffer:
		return ErrBufferFull
	}
	l.buffer = append(l.buffer, req)
	return nil
}

func (l *loop) send(req *emitReq) error {
	if req.ack != nil {
		req.id = l.nextID
		l.nextID++
		req.pkt.ID = req.id
		l.acks[req.id] = req
	}
	if err := l.writePacket(&req.pkt); err != nil {
		if req.ack != nil {
			delete(l.acks, req.id)
		}
		return err
	}
	return nil
}

// flush sends the emits buffered while disconnected, dropping those older
// than SendBufferMaxAge: an offer or candidate from before an outage would
// only confuse the peer after it.
func (l *loop) flush() {
	now := l.c.clk.Now()
	buf := l.buffer
	l.buffer = nil
	for _, req := range buf {
		var err error
		if now.Sub(req.at) > l.cfg.SendBufferMaxAge {
			err = ErrStale
		} else {
			err = l.send(req)
		}
		if err != nil && req.ack != nil {
			req.ack <- ackResult{err: err}
		}
	}
}

func (l *loop) failBuffer(err error) {
	for _, req := range l.buffer {
		if req.ack != nil {
			req.ack <- ackResult{err: err}
		}
	}
	l.buffer = nil
}

func (l *loop) forgetAck(ch chan ackResult) {
	for id, req := range l.acks {
		if req.ack == ch {
			delete(l.acks, id)
		}
	}
	for i, req := range l.buffer {
		if req.ack == ch {
			l.buffer = append(l.buffer[:i], l.buffer[i+1:]...)
			break
		}
	}
}

// ---- losing the connection ----

func (l *loop) onConnDone() {
	// Packets that arrived just before the end are still handled, in order.
	for {
		select {
		case p := <-l.conn.Packets():
			l.onEnginePacket(p)
			if l.conn == nil {
				return
			}
			continue
		default:
		}
		break
	}
	err := l.conn.Err()
	if !l.nsOpen {
		l.attemptFailed(err)
		return
	}
	l.lost(err)
}

// dropConn closes a connected socket and reports it, without scheduling.
func (l *loop) dropConn(err error) {
	wasOpen := l.nsOpen
	l.closeConn()
	l.lastErr = err
	if wasOpen {
		l.count(func(s *Status) { s.Drops++ })
		l.event(ManagerEvent{Kind: EventDisconnect, Err: err})
		l.c.log.Warn("connection lost", "err", err)
	}
}

// lost handles a connection that ended or was dropped, and backs off.
func (l *loop) lost(err error) {
	if !l.nsOpen {
		l.attemptFailed(err)
		return
	}
	l.dropConn(err)
	l.scheduleReconnect(err)
}

func (l *loop) closeConn() {
	l.stopTimer()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	l.nsOpen = false
	l.hookBusy = false
	l.dec.Reset()
	for id, req := range l.acks {
		req.ack <- ackResult{err: fmt.Errorf("connection lost before the ack: %w", ErrNotConnected)}
		delete(l.acks, id)
	}
}

// ---- network changes ----

func (l *loop) onNetwork() {
	switch l.state {
	case Backoff:
		l.c.log.Info("network changed: retrying now")
		l.count(func(s *Status) { s.Attempts++ })
		l.event(ManagerEvent{Kind: EventReconnectAttempt, Attempt: l.attempt})
		l.startAttempt()
	case Connected:
		if l.cfg.Liveness == nil || l.liveBusy {
			return
		}
		l.liveBusy = true
		gen := l.gen
		ctx := context.WithValue(l.ctx, hookKey{}, gen)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			err := l.cfg.Liveness(ctx)
			select {
			case l.liveRes <- genErr{gen, err}:
			case <-l.quit:
			}
		}()
	}
}

func (l *loop) onLiveness(r genErr) {
	l.liveBusy = false
	if r.gen != l.gen || r.err == nil || l.state != Connected {
		return
	}
	// The path changed under a live socket and it no longer answers: a new
	// connection is faster than waiting for TCP retransmissions.
	l.c.log.Info("socket dead after network change; reconnecting now", "err", r.err)
	l.dropConn(fmt.Errorf("socketio: liveness after network change: %w", r.err))
	l.startAttempt()
}

// ---- shutdown ----

func (l *loop) shutdown(err error) {
	close(l.c.done)
	close(l.quit)
	l.stopTimer()
	l.stopProbe()
	l.closeConn()
	if err == nil {
		err = ErrNotConnected
	}
	l.failBuffer(err)
	l.disp.close()
	l.wg.Wait()
	l.transport, l.sid = "", ""
	l.setState(Disconnected)
}
