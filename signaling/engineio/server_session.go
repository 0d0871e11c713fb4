package engineio

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// Server-side sentinel errors (the client's are in errors.go).
var (
	// ErrBufferFull reports a session whose peer does not take its packets:
	// more than ServerConfig.MaxBuffered bytes queued. The session is closed.
	ErrBufferFull = errors.New("engineio: send buffer full")
	// ErrRateLimited reports a peer sending above ServerConfig.RateLimit.
	ErrRateLimited = errors.New("engineio: rate limit exceeded")
	// ErrDropped reports a TrySend that the session's queue could not take
	// without closing it; the session stays open.
	ErrDropped = errors.New("engineio: dropped (peer not keeping up)")
)

// closeLinger is how long a gracefully closed polling session waits for
// the GET that takes its close packet (the Node server's closeTimeout).
const closeLinger = 30 * time.Second

type sessionState int

const (
	stateOpen    sessionState = iota
	stateClosing              // closed for the user; a websocket flusher may still drain
	stateClosed
)

func (s sessionState) String() string {
	switch s {
	case stateOpen:
		return "open"
	case stateClosing:
		return "closing"
	case stateClosed:
		return "closed"
	}
	return fmt.Sprintf("sessionState(%d)", int(s))
}

// Session is one Engine.IO session on the server. Its methods are safe
// from any goroutine.
type Session struct {
	srv    *Server
	id     string
	addr   string        // the client address the session is counted under
	hs     handshake     // what is kept of the handshake request
	lim    *rate.Limiter // nil without a rate limit; used by the reader only
	recvMu sync.Mutex    // serializes OnMessage calls (websocket reader, POSTs)
	done   chan struct{}

	mu           sync.Mutex // guards the fields below
	data         any
	state        sessionState
	reason       CloseReason
	transport    string
	ws           *wsConn         // the session's websocket once on it
	probe        *wsConn         // an upgrade probe in progress
	upgrading    bool            // the probe was answered; the client pauses polling
	queue        []Packet        // packets the peer has not taken yet
	queued       int64           // their encoded size
	flushing     bool            // a websocket flusher goroutine runs
	getWaiting   bool            // a polling GET is held
	postActive   bool            // a polling POST is being read
	wake         chan struct{}   // wakes the held GET (capacity 1)
	hb           clockwork.Timer // the heartbeat timer
	hbSeq        uint64          // drops a stale heartbeat callback
	awaitingPong bool
	closeFrame   bool // graceful close: the flusher sends a close frame after the queue
}

// keptHeaders are the handshake headers a Session keeps for Request(): who
// the client is (origin, user agent, credentials) and where it came from
// through a proxy. The transport's own (Sec-WebSocket-*, Upgrade,
// Connection, Accept-*) are dropped.
var keptHeaders = []string{"Origin", "User-Agent", "Cookie", "Authorization",
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip"}

// handshake is what a session keeps of its handshake request, flat: an
// idle device socket lives for days, and the whole request (every header,
// a copied context) was a quarter of its heap; even a trimmed
// *http.Request with its URL was ~800 bytes (issue 17 §4). Request()
// builds a request from it when asked (at CONNECT).
type handshake struct {
	method, uri, proto, host, remoteAddr string
	hdr                                  []string // keptHeaders present: name, value, name, value…
}

func keepHandshake(r *http.Request) handshake {
	h := handshake{method: r.Method, uri: r.RequestURI, proto: r.Proto, host: r.Host, remoteAddr: r.RemoteAddr}
	if h.uri == "" {
		h.uri = r.URL.RequestURI()
	}
	for _, k := range keptHeaders {
		for _, v := range r.Header[k] {
			h.hdr = append(h.hdr, k, v)
		}
	}
	return h
}

// request rebuilds the kept request: a new value on every call.
func (h *handshake) request() *http.Request {
	u, err := url.ParseRequestURI(h.uri)
	if err != nil {
		u = &url.URL{}
	}
	var hdr http.Header
	if len(h.hdr) > 0 {
		hdr = make(http.Header, len(h.hdr)/2)
		for i := 0; i+1 < len(h.hdr); i += 2 {
			hdr[h.hdr[i]] = append(hdr[h.hdr[i]], h.hdr[i+1])
		}
	}
	maj, min, _ := http.ParseHTTPVersion(h.proto)
	return &http.Request{Method: h.method, URL: u, Proto: h.proto, ProtoMajor: maj, ProtoMinor: min,
		Header: hdr, Body: http.NoBody, Host: h.host, RemoteAddr: h.remoteAddr, RequestURI: h.uri}
}

func newSession(s *Server, r *http.Request, transport string, ws *wsConn) *Session {
	ss := &Session{
		srv:       s,
		id:        newSID(),
		hs:        keepHandshake(r),
		done:      make(chan struct{}),
		transport: transport,
		ws:        ws,
		wake:      make(chan struct{}, 1),
	}
	if s.cfg.RateLimit > 0 {
		ss.lim = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.RateBurst)
	}
	return ss
}

// ID is the Engine.IO session id (sid).
func (ss *Session) ID() string { return ss.id }

// Request is what the session kept of its handshake request: method, URL
// with query, host, RemoteAddr and the headers in keptHeaders (origin, user
// agent, cookies, authorization, proxy headers), built afresh on each
// call. Its body, context and other headers are gone.
func (ss *Session) Request() *http.Request { return ss.hs.request() }

// RemoteAddr is the peer address of the handshake request.
func (ss *Session) RemoteAddr() string { return ss.hs.remoteAddr }

// Transport is the transport in use now: "polling" or "websocket".
func (ss *Session) Transport() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.transport
}

// Data returns what SetData stored.
func (ss *Session) Data() any {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.data
}

// SetData stores a value for the user of the session (the Socket.IO layer
// keeps its connection state here).
func (ss *Session) SetData(v any) {
	ss.mu.Lock()
	ss.data = v
	ss.mu.Unlock()
}

// Done is closed when the session has closed.
func (ss *Session) Done() <-chan struct{} { return ss.done }

// Reason says why the session closed; empty while open.
func (ss *Session) Reason() CloseReason {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.reason
}

// Send queues packets to the peer as one unit: no other Send's packets come
// between them (a Socket.IO packet and its binary attachments). It never
// blocks on the network. It returns ErrClosed once the session has closed,
// ErrTooLarge for a packet above MaxPayload, and ErrBufferFull (closing
// the session) when the peer has left too much unread.
func (ss *Session) Send(pkts ...Packet) error {
	n, err := ss.sizeOf(pkts)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	if ss.state != stateOpen {
		ss.mu.Unlock()
		return fmt.Errorf("engineio: send to %s: %w", ss.id, ErrClosed)
	}
	if ss.queued+n > ss.srv.cfg.MaxBuffered {
		queued := ss.queued
		ss.mu.Unlock()
		// Closed on another goroutine: Send must never call OnClose from
		// inside its caller (which may hold its own locks).
		ss.srv.wg.Add(1)
		go func() {
			defer ss.srv.wg.Done()
			ss.closeWith(ReasonTransportError, false)
		}()
		return fmt.Errorf("engineio: send to %s: %d bytes unread: %w", ss.id, queued, ErrBufferFull)
	}
	ss.queue = append(ss.queue, pkts...)
	ss.queued += n
	ss.kick()
	ss.mu.Unlock()
	return nil
}

// sizeOf is what pkts add to the queue (one separator byte each), or
// ErrTooLarge for a packet above MaxPayload.
func (ss *Session) sizeOf(pkts []Packet) (int64, error) {
	n := int64(0)
	for _, p := range pkts {
		l := int64(p.EncodedLen())
		if l > ss.srv.cfg.MaxPayload {
			return 0, fmt.Errorf("engineio: send %d bytes (max %d): %w", l, ss.srv.cfg.MaxPayload, ErrTooLarge)
		}
		n += l + 1
	}
	return n, nil
}

// TrySend queues packets as one unit like Send, but only while the queue
// stays under half of MaxBuffered: traffic that is relayed for someone
// else (a volatile emit) must never cost this session its connection, so a
// peer that does not keep up loses these packets (ErrDropped) instead of
// being closed, and reliable packets keep the other half.
func (ss *Session) TrySend(pkts ...Packet) error {
	n, err := ss.sizeOf(pkts)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.state != stateOpen {
		return fmt.Errorf("engineio: send to %s: %w", ss.id, ErrClosed)
	}
	if ss.queued+n > ss.srv.cfg.MaxBuffered/2 {
		return fmt.Errorf("engineio: send to %s: %d bytes unread: %w", ss.id, ss.queued, ErrDropped)
	}
	ss.queue = append(ss.queue, pkts...)
	ss.queued += n
	ss.kick()
	return nil
}

// Close ends the session (ReasonForcedClose) after the packets already
// queued: a websocket gets them and a close frame, a held polling GET gets
// them and a close packet.
func (ss *Session) Close() error {
	ss.closeWith(ReasonForcedClose, true)
	return nil
}

// kick makes the transport take the queue: it wakes a held GET, or starts
// the websocket flusher. ss.mu is held.
func (ss *Session) kick() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
	if ss.transport == TransportWebSocket && ss.ws != nil && !ss.flushing &&
		(len(ss.queue) > 0 || ss.closeFrame) {
		ss.flushing = true
		ss.srv.wg.Add(1)
		go ss.flushWebSocket(ss.ws)
	}
}

// closeWith closes the session once. graceful keeps the queue for the
// peer (then a close frame or close packet); otherwise the transport is
// dropped at once. OnClose runs on the calling goroutine.
func (ss *Session) closeWith(reason CloseReason, graceful bool) {
	ss.mu.Lock()
	if ss.state != stateOpen {
		ss.mu.Unlock()
		return
	}
	ss.state = stateClosing
	ss.reason = reason
	ss.hbSeq++
	if ss.hb != nil {
		ss.hb.Stop()
		ss.hb = nil
	}
	probe := ss.probe
	ss.probe = nil
	var drop *wsConn
	if ss.transport == TransportWebSocket {
		if graceful {
			ss.closeFrame = true
			ss.kick()
		} else {
			drop = ss.ws
			ss.queue, ss.queued = nil, 0
		}
	} else {
		if !graceful {
			ss.queue, ss.queued = nil, 0
		}
		// A held GET answers with the queue and a close packet; the
		// Engine.IO client reads it as "transport closed by the server".
		ss.queue = append(ss.queue, Packet{Type: Close})
		ss.kick()
	}
	// A graceful polling close keeps the sid reachable until a GET took
	// the close packet (or closeLinger passed), as the Node server's
	// polling doClose does: otherwise the client's next GET would meet
	// "Session ID unknown" and report a transport error.
	linger := graceful && ss.transport == TransportPolling && !ss.getWaiting
	ss.mu.Unlock()
	if probe != nil {
		_ = probe.close()
	}
	if drop != nil {
		_ = drop.close()
	}
	if linger {
		ss.srv.clk.AfterFunc(closeLinger, func() { ss.srv.remove(ss) })
	} else {
		ss.srv.remove(ss)
	}
	close(ss.done)
	ss.srv.log.Debug("session closed", "sid", ss.id, "reason", reason)
	if ss.srv.cfg.OnClose != nil {
		ss.srv.cfg.OnClose(ss, reason)
	}
}

// armHeartbeat (re)starts the heartbeat timer. ss.mu is held.
func (ss *Session) armHeartbeat(d time.Duration) {
	ss.hbSeq++
	seq := ss.hbSeq
	if ss.hb != nil {
		ss.hb.Stop()
	}
	ss.hb = ss.srv.clk.AfterFunc(d, func() { ss.onHeartbeat(seq) })
}

// onHeartbeat runs on a timer: ping every pingInterval, close when the pong
// is missing after pingTimeout (Engine.IO v4 "Heartbeat": the server pings).
func (ss *Session) onHeartbeat(seq uint64) {
	ss.mu.Lock()
	if seq != ss.hbSeq || ss.state != stateOpen {
		ss.mu.Unlock()
		return
	}
	if ss.awaitingPong {
		ss.mu.Unlock()
		ss.closeWith(ReasonPingTimeout, false)
		return
	}
	ss.awaitingPong = true
	ss.queue = append(ss.queue, Packet{Type: Ping})
	ss.queued += 2
	// The timer already runs this on a goroutine of its own: write the
	// ping from here rather than starting a flusher goroutine.
	var ws *wsConn
	if ss.transport == TransportWebSocket && ss.ws != nil && !ss.flushing {
		ss.flushing = true
		ss.srv.wg.Add(1)
		ws = ss.ws
	} else {
		ss.kick()
	}
	ss.armHeartbeat(ss.srv.cfg.PingTimeout)
	ss.mu.Unlock()
	if ws != nil {
		ss.flushWebSocket(ws)
	}
}

// receive handles one packet from the peer on its reader (a websocket
// reader or a POST). A non-nil error has closed the session.
func (ss *Session) receive(p Packet) error {
	if err := ss.limit(); err != nil {
		return err
	}
	switch p.Type {
	case Message:
		ss.recvMu.Lock()
		defer ss.recvMu.Unlock()
		if ss.srv.cfg.OnMessage != nil {
			select {
			case <-ss.done:
				return ErrClosed
			default:
			}
			ss.srv.cfg.OnMessage(ss, p)
		}
	case Pong:
		ss.mu.Lock()
		if ss.state == stateOpen && ss.awaitingPong {
			ss.awaitingPong = false
			ss.armHeartbeat(ss.srv.cfg.PingInterval)
		}
		ss.mu.Unlock()
	case Close:
		ss.closeWith(ReasonTransportClose, false)
		return ErrClosed
	case Noop, Upgrade:
		// A late upgrade packet or a noop carries nothing.
	default:
		// Ping from a v4 client is "invalid heartbeat direction"; open is
		// never sent by a client.
		ss.closeWith(ReasonParseError, false)
		return fmt.Errorf("engineio: unexpected %v packet from client: %w", p.Type, ErrMalformed)
	}
	return nil
}

// limit applies the rate limit: it waits for a token (pushing back on the
// peer) or closes the session when the wait would exceed MaxRateDelay.
func (ss *Session) limit() error {
	if ss.lim == nil {
		return nil
	}
	now := ss.srv.clk.Now()
	r := ss.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if !r.OK() || d > ss.srv.cfg.MaxRateDelay {
		r.CancelAt(now)
		ss.srv.log.Warn("rate limit exceeded; closing", "sid", ss.id, "remote", ss.hs.remoteAddr)
		ss.closeWith(ReasonRateLimited, false)
		return fmt.Errorf("engineio: session %s: %w", ss.id, ErrRateLimited)
	}
	t := ss.srv.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ss.done:
		return ErrClosed
	}
}

// ---- websocket ----

// readWebSocket reads the session's websocket until it fails: the reader
// goroutine of a websocket that cannot be polled (server.go,
// readInBackground).
func (ss *Session) readWebSocket(ws *wsConn) {
	for ss.readOneWS(ws) {
	}
}

// readOneWS reads and handles one message; false when the session ended.
// A text frame is one packet; a binary frame is a binary message
// (Engine.IO v4 over WebSocket).
func (ss *Session) readOneWS(ws *wsConn) bool {
	binary, data, err := ws.readMessage()
	if err != nil {
		ss.readFailed(ws, err)
		return false
	}
	var p Packet
	if binary {
		p = Packet{Type: Message, Data: data, Binary: true}
	} else {
		if !utf8.Valid(data) {
			ss.invalidUTF8(ws)
			return false
		}
		if p, err = DecodeText(data); err != nil {
			ss.srv.log.Debug("bad packet; closing", "sid", ss.id, "err", err)
			ss.closeWith(ReasonParseError, false)
			_ = ws.close()
			return false
		}
	}
	if err := ss.receive(p); err != nil {
		_ = ws.close()
		return false
	}
	return true
}

// invalidUTF8 fails the websocket as RFC 6455 section 8.1 requires for a
// text frame that is not UTF-8: close code 1007 (invalid frame payload
// data), then the session ends with a parse error.
func (ss *Session) invalidUTF8(ws *wsConn) {
	ss.srv.log.Debug("websocket text frame is not UTF-8; closing with 1007", "sid", ss.id)
	_ = ws.writeClose(1007, "invalid UTF-8")
	ss.closeWith(ReasonParseError, false)
	_ = ws.close()
}

func (ss *Session) readFailed(ws *wsConn, err error) {
	reason := ReasonTransportError
	var ce *wsCloseError
	switch {
	case errors.Is(err, errWSReadLimit):
		ss.srv.log.Info("websocket message above maxPayload; closing", "sid", ss.id, "max", ss.srv.cfg.MaxPayload)
	case errors.As(err, &ce) && (ce.code == 1000 || ce.code == 1001 || ce.code == 1005), // normal, going away, no status
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		reason = ReasonTransportClose
	}
	ss.closeWith(reason, false)
	_ = ws.close()
}

// flushWebSocket writes the queue until it is empty and then exits, so an
// idle session has no writer goroutine. On a graceful close it ends with a
// close frame.
func (ss *Session) flushWebSocket(ws *wsConn) {
	defer ss.srv.wg.Done()
	var batch []Packet
	var buf []byte
	for {
		ss.mu.Lock()
		if len(ss.queue) == 0 {
			ss.flushing = false
			closing := ss.closeFrame && ss.state != stateOpen
			if cap(ss.queue) > 64 {
				ss.queue = nil
			}
			ss.mu.Unlock()
			if closing {
				_ = ws.writeClose(1000, "") // normal closure
				_ = ws.close()
			}
			return
		}
		batch, ss.queue = ss.queue, batch[:0]
		ss.queued = 0
		ss.mu.Unlock()
		deadline := time.Now().Add(ss.srv.cfg.WriteTimeout)
		for i, p := range batch {
			var err error
			if p.Binary {
				err = ws.writeMessage(true, p.Data, deadline)
			} else {
				buf = p.AppendText(buf[:0])
				err = ws.writeMessage(false, buf, deadline)
			}
			batch[i] = Packet{}
			if err != nil {
				ss.srv.log.Debug("websocket write failed", "sid", ss.id, "err", err)
				ss.mu.Lock()
				ss.flushing = false
				ss.mu.Unlock()
				ss.closeWith(ReasonTransportError, false)
				_ = ws.close()
				return
			}
		}
		if cap(buf) > 4096 {
			buf = nil
		}
	}
}

// runProbe runs the server side of the upgrade on a probe websocket until
// the upgrade packet switched the session to it.
func (ss *Session) runProbe(ws *wsConn) error {
	ws.setReadDeadline(time.Now().Add(ss.srv.cfg.UpgradeTimeout))
	for {
		binary, data, err := ws.readMessage()
		if err != nil {
			return fmt.Errorf("engineio: upgrade probe: %w", err)
		}
		if binary {
			return fmt.Errorf("engineio: binary frame during upgrade: %w", errUpgradeProtocol)
		}
		if !utf8.Valid(data) {
			_ = ws.writeClose(1007, "invalid UTF-8")
			return fmt.Errorf("engineio: upgrade probe: text frame is not UTF-8: %w", ErrMalformed)
		}
		p, err := DecodeText(data)
		if err != nil {
			return err
		}
		switch {
		case p.Type == Ping && string(p.Data) == "probe":
			if err := ws.writeMessage(false, []byte("3probe"), time.Now().Add(ss.srv.cfg.WriteTimeout)); err != nil {
				return fmt.Errorf("engineio: upgrade probe answer: %w", err)
			}
			ss.mu.Lock()
			ss.upgrading = ss.probe == ws
			// A held GET answers now (with a noop when nothing is queued)
			// so the client can pause polling and send the upgrade packet.
			ss.kick()
			ss.mu.Unlock()
		case p.Type == Upgrade:
			ss.mu.Lock()
			if !ss.upgrading || ss.probe != ws || ss.state != stateOpen {
				ss.mu.Unlock()
				return fmt.Errorf("engineio: upgrade packet before probe: %w", errUpgradeProtocol)
			}
			ss.transport, ss.ws, ss.probe, ss.upgrading = TransportWebSocket, ws, nil, false
			ss.kick()
			ss.mu.Unlock()
			ws.setReadDeadline(time.Time{})
			return nil
		case p.Type == Noop:
		default:
			return fmt.Errorf("engineio: %v packet during upgrade: %w", p.Type, errUpgradeProtocol)
		}
	}
}

// ---- polling ----

// servePoll answers one long-polling GET: at once when packets are queued,
// otherwise when some are (a ping comes every pingInterval at the latest),
// the session closes or upgrades. Never more than one GET per session: an
// overlapping GET is answered 400 and closes the session, as the Node
// server does.
func (ss *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	ss.mu.Lock()
	if ss.transport != TransportPolling {
		ss.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: session is on websocket")
		return
	}
	if ss.getWaiting {
		ss.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: overlapping GET")
		ss.closeWith(ReasonTransportError, false)
		return
	}
	ss.getWaiting = true
	for len(ss.queue) == 0 && ss.state == stateOpen && !ss.upgrading && ss.transport == TransportPolling {
		ss.mu.Unlock()
		select {
		case <-ss.wake:
		case <-ss.done:
		case <-r.Context().Done():
			ss.mu.Lock()
			ss.getWaiting = false
			ss.mu.Unlock()
			// "poll connection closed prematurely" in the Node server.
			ss.closeWith(ReasonTransportError, false)
			return
		}
		ss.mu.Lock()
	}
	var pkts []Packet
	switch {
	case ss.transport != TransportPolling:
		pkts = []Packet{{Type: Noop}}
	case len(ss.queue) == 0 && ss.state != stateOpen:
		pkts = []Packet{{Type: Close}}
	case len(ss.queue) == 0:
		pkts = []Packet{{Type: Noop}}
	default:
		size := int64(-1)
		n := 0
		for n < len(ss.queue) {
			l := int64(ss.queue[n].EncodedLen()) + 1
			if n > 0 && size+l > ss.srv.cfg.MaxPayload {
				break
			}
			size += l
			n++
		}
		pkts = append(pkts, ss.queue[:n]...)
		clear(ss.queue[:n])
		ss.queue = ss.queue[n:]
		ss.queued -= size + 1
		if len(ss.queue) == 0 {
			ss.queue, ss.queued = nil, 0
		}
	}
	ss.getWaiting = false
	gone := ss.state != stateOpen && len(ss.queue) == 0
	ss.mu.Unlock()
	if gone {
		ss.srv.remove(ss)
	}
	body := AppendPayload(make([]byte, 0, 64), pkts)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// servePost reads one polling POST: a payload of packets bounded by
// MaxPayload. Overlapping POSTs, oversize bodies (413) and malformed
// payloads close the session.
func (ss *Session) servePost(w http.ResponseWriter, r *http.Request) {
	ss.mu.Lock()
	switch {
	case ss.transport != TransportPolling:
		ss.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: session is on websocket")
		return
	case ss.state != stateOpen:
		// Closing: the close packet waits for the next GET; data is dropped.
		ss.mu.Unlock()
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, ss.srv.cfg.MaxPayload))
		_, _ = io.WriteString(w, "ok")
		return
	case ss.postActive:
		ss.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: overlapping POST")
		ss.closeWith(ReasonTransportError, false)
		return
	}
	ss.postActive = true
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		ss.postActive = false
		ss.mu.Unlock()
	}()
	max := ss.srv.cfg.MaxPayload
	if r.ContentLength > max {
		ss.payloadTooLarge(w, r.ContentLength)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: "+err.Error())
		ss.closeWith(ReasonTransportError, false)
		return
	}
	if int64(len(body)) > max {
		ss.payloadTooLarge(w, int64(len(body)))
		return
	}
	err = DecodePayload(body, ss.receive)
	switch {
	case errors.Is(err, ErrMalformed):
		ss.srv.log.Debug("bad payload; closing", "sid", ss.id, "err", err)
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: "+err.Error())
		ss.closeWith(ReasonParseError, false)
		return
	case errors.Is(err, ErrRateLimited):
		writeError(w, http.StatusTooManyRequests, codeBadRequest, "Too many packets")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}

func (ss *Session) payloadTooLarge(w http.ResponseWriter, n int64) {
	ss.srv.log.Info("POST above maxPayload; closing", "sid", ss.id, "bytes", n, "max", ss.srv.cfg.MaxPayload)
	writeError(w, http.StatusRequestEntityTooLarge, codeBadRequest,
		fmt.Sprintf("Payload too large: %d bytes above maxPayload %d", n, ss.srv.cfg.MaxPayload))
	ss.closeWith(ReasonTransportError, false)
}
