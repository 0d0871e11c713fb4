package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jonboulle/clockwork"
)

// Conn is one Engine.IO v4 client session over WebSocket or HTTP
// long-polling. It answers server pings, watches for missing pings, batches
// polling writes and upgrades polling to WebSocket when the server offers it.
//
// Goroutines (all owned by the Conn and waited for by Close): a reader
// (WebSocket frames or polling GETs, never more than one GET in flight), a
// writer (the only one that writes: WebSocket frames or polling POSTs, never
// more than one POST in flight), the ping watchdog and, on polling, the
// upgrader. Received message packets arrive on Packets in order.
// The fields below are owned as their comments say; the rest are set in
// Dial and read-only afterwards.
type Conn struct {
	cfg  Config
	hs   Handshake
	clk  clockwork.Clock
	log  *slog.Logger
	http *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	packets chan Packet // to the user; closed when the session ends
	sendq   chan Packet // user packets to the writer
	ctrlq   chan Packet // pongs, ahead of user packets
	pinged  chan struct{}
	upgrade chan *websocket.Conn // upgrader → writer: switch to this socket
	upDone  chan struct{}        // writer → upgrader: upgrade packet sent

	transport atomic.Value // string
	paused    atomic.Bool  // polling reader must stop after its current GET
	pollDone  chan struct{}

	errOnce sync.Once
	err     error // first fatal error; set once, read after done
	done    chan struct{}

	wsMu   sync.Mutex
	ws     *websocket.Conn // current WebSocket, nil while polling
	failed bool            // fail has run; no new socket may be installed
}

// Dial opens an Engine.IO session over the named transport and completes its
// handshake. On polling, the session upgrades to WebSocket by itself when the
// server offers it and cfg.NoUpgrade is false. httpClient may be nil.
func Dial(ctx context.Context, cfg Config, transport string, httpClient *http.Client) (*Conn, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = cfg.HTTPClient()
	}
	c := &Conn{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger.With("component", "engineio"),
		http:    httpClient,
		packets: make(chan Packet, 16),
		sendq:   make(chan Packet, 64),
		ctrlq:   make(chan Packet, 4),
		pinged:  make(chan struct{}, 1),
		upgrade: make(chan *websocket.Conn),
		upDone:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	hctx, hcancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer hcancel()
	var early []Packet
	switch transport {
	case TransportWebSocket:
		ws, hs, err := c.dialWebSocket(hctx, "")
		if err != nil {
			return nil, err
		}
		c.hs, c.ws = hs, ws
	case TransportPolling:
		hs, rest, err := c.pollHandshake(hctx)
		if err != nil {
			return nil, err
		}
		c.hs, early = hs, rest
	default:
		return nil, fmt.Errorf("engineio: dial: unknown transport %q", transport)
	}
	c.transport.Store(transport)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, p := range early {
		c.packets <- p // buffered; a handshake response carries few packets
	}
	c.start()
	return c, nil
}

func (c *Conn) start() {
	c.wg.Add(3)
	go c.watchdog()
	go c.writer()
	if c.ws != nil {
		go c.readWebSocket(c.ws)
		return
	}
	c.pollDone = make(chan struct{})
	go c.readPolling()
	if !c.cfg.NoUpgrade && contains(c.hs.Upgrades, TransportWebSocket) {
		c.wg.Add(1)
		go c.upgrader()
	}
}

// Handshake returns the server's open packet.
func (c *Conn) Handshake() Handshake { return c.hs }

// Transport returns the transport in use now: "websocket" or "polling".
func (c *Conn) Transport() string { return c.transport.Load().(string) }

// Packets delivers received message packets in order. It is never closed:
// select on Done as well, and drain Packets without blocking once Done is
// closed to get what arrived just before the end.
func (c *Conn) Packets() <-chan Packet { return c.packets }

// Done is closed when the session has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the session ended, or nil while it is open.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send queues a message packet. It returns ErrTooLarge at once for a packet
// above the server's maxPayload, and ErrClosed once the session has ended.
func (c *Conn) Send(ctx context.Context, p Packet) error {
	if int64(p.EncodedLen()) > c.hs.MaxPayload {
		return fmt.Errorf("engineio: send %d bytes (max %d): %w", p.EncodedLen(), c.hs.MaxPayload, ErrTooLarge)
	}
	select {
	case c.sendq <- p:
		return nil
	case <-c.done:
		return fmt.Errorf("engineio: send: %w", c.closedErr())
	case <-ctx.Done():
		return fmt.Errorf("engineio: send: %w", ctx.Err())
	}
}

func (c *Conn) closedErr() error {
	if c.err != nil && !errors.Is(c.err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	return ErrClosed
}

// Close ends the session, telling the server with a close packet when the
// transport still works, and waits for every goroutine of the Conn.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail records the first fatal error and tears the session down. It is safe
// from any goroutine.
func (c *Conn) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		if !errors.Is(err, ErrClosed) {
			c.log.Debug("session ended", "sid", c.hs.SID, "err", err)
		}
		// A best-effort close packet lets the server free the session now
		// instead of after its ping timeout.
		c.wsMu.Lock()
		ws := c.ws
		c.failed = true
		c.wsMu.Unlock()
		if ws != nil {
			_ = ws.WriteControl(websocket.CloseMessage, nil, c.clk.Now().Add(100*time.Millisecond))
			_ = ws.Close()
		} else if errors.Is(err, ErrClosed) && c.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_ = c.post(ctx, []byte{'0' + byte(Close)})
			cancel()
		}
		c.cancel()
		close(c.done)
	})
}

// deliver hands a received packet to the reader's caller or acts on it.
func (c *Conn) deliver(p Packet) error {
	switch p.Type {
	case Ping:
		select {
		case c.pinged <- struct{}{}:
		default:
		}
		select {
		case c.ctrlq <- Packet{Type: Pong, Data: p.Data}:
		case <-c.ctx.Done():
		}
	case Message:
		select {
		case c.packets <- p:
		case <-c.ctx.Done():
		}
	case Close:
		return ErrServerClose
	case Noop, Pong:
	default:
		return fmt.Errorf("engineio: unexpected %v packet: %w", p.Type, ErrMalformed)
	}
	return nil
}

// watchdog ends the session when no ping arrives within pingInterval +
// pingTimeout (Engine.IO v4 "Heartbeat"). Besides the clock's timer it
// compares wall-clock time once a second: a suspended board's monotonic
// timers stall, but its wall clock jumps, so the session is dropped as soon
// as the board resumes instead of a full ping period later.
func (c *Conn) watchdog() {
	defer c.wg.Done()
	period := time.Duration(c.hs.PingInterval+c.hs.PingTimeout) * time.Millisecond
	wall := func() time.Time { return c.clk.Now().Round(0) }
	deadline := wall().Add(period)
	t := c.clk.NewTimer(period)
	defer t.Stop()
	tick := c.clk.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.pinged:
			deadline = wall().Add(period)
			t.Reset(period)
		case <-t.Chan():
			if now := wall(); now.Before(deadline) {
				t.Reset(deadline.Sub(now))
				continue
			}
			c.fail(fmt.Errorf("engineio: no ping for %v: %w", period, ErrPingTimeout))
			return
		case <-tick.Chan():
			if wall().After(deadline) {
				c.fail(fmt.Errorf("engineio: no ping for %v (wall clock): %w", period, ErrPingTimeout))
				return
			}
		case <-c.ctx.Done():
			return
		}
	}
}

// writer is the only goroutine that writes to the server.
func (c *Conn) writer() {
	defer c.wg.Done()
	batch := make([]Packet, 0, 16)
	var buf []byte
	var carry *Packet // a packet that did not fit the previous polling batch
	for {
		batch = batch[:0]
		if carry != nil {
			batch = append(batch, *carry)
			carry = nil
		} else {
			select {
			case <-c.ctx.Done():
				return
			case ws := <-c.upgrade:
				// Upgrade (Engine.IO v4 "Upgrade"): the polling reader has
				// stopped and no POST is in flight, so the upgrade packet
				// is the last thing the server sees before the switch.
				ws.SetWriteDeadline(c.clk.Now().Add(c.cfg.WriteTimeout))
				if err := ws.WriteMessage(websocket.TextMessage, []byte{'0' + byte(Upgrade)}); err != nil {
					c.fail(fmt.Errorf("engineio: upgrade packet: %w", err))
					return
				}
				c.wsMu.Lock()
				if c.failed {
					// fail ran before the switch: it could not see
					// this socket, so close it here.
					c.wsMu.Unlock()
					ws.Close()
					return
				}
				c.ws = ws
				c.wsMu.Unlock()
				c.transport.Store(TransportWebSocket)
				close(c.upDone)
				continue
			case p := <-c.ctrlq:
				batch = append(batch, p)
			case p := <-c.sendq:
				batch = append(batch, p)
			}
		}
		c.wsMu.Lock()
		ws := c.ws
		c.wsMu.Unlock()
		var err error
		if ws != nil {
			batch, _ = c.drain(batch, 1<<62)
			err = c.writeWebSocket(ws, batch)
		} else {
			batch, carry = c.drain(batch, c.hs.MaxPayload)
			buf = AppendPayload(buf[:0], batch)
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.WriteTimeout)
			err = c.post(ctx, buf)
			cancel()
		}
		if err != nil {
			// A write usually fails because the reader already gave up
			// (an oversize or malformed frame makes gorilla send a close)
			// or the server went away; the reader's error says why, so it
			// gets a moment to be the one recorded.
			grace := time.NewTimer(100 * time.Millisecond)
			select {
			case <-c.done:
			case <-grace.C:
			}
			grace.Stop()
			c.fail(err)
			return
		}
	}
}

// drain adds queued packets to batch, control packets first, while the
// payload stays within max bytes (polling's maxPayload). The first packet
// that does not fit is returned to be sent first in the next batch.
func (c *Conn) drain(batch []Packet, max int64) ([]Packet, *Packet) {
	size := int64(-1)
	for _, p := range batch {
		size += int64(p.EncodedLen()) + 1
	}
	for len(batch) < 256 {
		var p Packet
		select {
		case p = <-c.ctrlq:
		default:
			select {
			case p = <-c.sendq:
			default:
				return batch, nil
			}
		}
		n := int64(p.EncodedLen()) + 1
		if size+n > max {
			return batch, &p
		}
		size += n
		batch = append(batch, p)
	}
	return batch, nil
}

func (c *Conn) writeWebSocket(ws *websocket.Conn, batch []Packet) error {
	ws.SetWriteDeadline(c.clk.Now().Add(c.cfg.WriteTimeout))
	var buf [64]byte
	for _, p := range batch {
		var err error
		if p.Binary {
			err = ws.WriteMessage(websocket.BinaryMessage, p.Data)
		} else {
			err = ws.WriteMessage(websocket.TextMessage, p.AppendText(buf[:0]))
		}
		if err != nil {
			return fmt.Errorf("engineio: websocket write: %w", err)
		}
	}
	return nil
}

// readWebSocket reads frames until the socket fails. A text frame is one
// text-encoded packet; a binary frame is a binary message.
func (c *Conn) readWebSocket(ws *websocket.Conn) {
	defer c.wg.Done()
	ws.SetReadLimit(c.cfg.MaxReadPayload)
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				err = fmt.Errorf("engineio: websocket frame above %d bytes: %w", c.cfg.MaxReadPayload, ErrTooLarge)
			} else {
				err = fmt.Errorf("engineio: websocket read: %w", err)
			}
			c.fail(err)
			return
		}
		var p Packet
		if mt == websocket.BinaryMessage {
			p = Packet{Type: Message, Data: data, Binary: true}
		} else if p, err = DecodeText(data); err != nil {
			c.fail(fmt.Errorf("engineio: websocket: %w", err))
			return
		}
		if err := c.deliver(p); err != nil {
			c.fail(err)
			return
		}
	}
}

// readPolling runs the long-poll GET loop: one request in flight at a time,
// each answered when the server has packets or a ping to send.
func (c *Conn) readPolling() {
	defer c.wg.Done()
	defer close(c.pollDone)
	timeout := time.Duration(c.hs.PingInterval+c.hs.PingTimeout)*time.Millisecond + c.cfg.HandshakeTimeout
	for !c.paused.Load() {
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		body, err := c.get(ctx, c.hs.SID)
		cancel()
		if err == nil {
			err = DecodePayload(body, c.deliver)
		}
		if err != nil {
			if c.ctx.Err() == nil {
				c.fail(fmt.Errorf("engineio: poll: %w", err))
			}
			return
		}
	}
}

func (c *Conn) newRequest(ctx context.Context, method, sid string, body []byte) (*http.Request, error) {
	u := c.cfg.endpoint(TransportPolling, sid)
	u += "&t=" + strconv.FormatInt(c.clk.Now().UnixNano(), 36)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	return req, nil
}

// get performs one polling GET and returns its body, bounded by
// MaxReadPayload.
func (c *Conn) get(ctx context.Context, sid string) ([]byte, error) {
	req, err := c.newRequest(ctx, http.MethodGet, sid, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxReadPayload+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET status %d: %.200s: %w", resp.StatusCode, body, ErrHandshake)
	}
	if int64(len(body)) > c.cfg.MaxReadPayload {
		return nil, fmt.Errorf("GET payload above %d bytes: %w", c.cfg.MaxReadPayload, ErrTooLarge)
	}
	return body, nil
}

// post sends one polling payload.
func (c *Conn) post(ctx context.Context, payload []byte) error {
	req, err := c.newRequest(ctx, http.MethodPost, c.hs.SID, payload)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("engineio: POST: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("engineio: POST status %d: %.200s: %w", resp.StatusCode, msg, ErrHandshake)
	}
	return nil
}

// pollHandshake opens a session over polling. Packets that came with the
// open packet are returned for delivery.
func (c *Conn) pollHandshake(ctx context.Context) (Handshake, []Packet, error) {
	body, err := c.get(ctx, "")
	if err != nil {
		return Handshake{}, nil, fmt.Errorf("engineio: polling handshake: %w", err)
	}
	var hs Handshake
	var rest []Packet
	first := true
	err = DecodePayload(body, func(p Packet) error {
		if first {
			first = false
			if p.Type != Open {
				return fmt.Errorf("first packet is %v, not open: %w", p.Type, ErrHandshake)
			}
			var err error
			hs, err = ParseHandshake(p.Data)
			return err
		}
		if p.Type == Message {
			rest = append(rest, p)
		}
		return nil
	})
	if err != nil {
		return hs, nil, fmt.Errorf("engineio: polling handshake: %w", err)
	}
	return hs, rest, nil
}

// dialWebSocket opens a WebSocket. Without sid it is a new session and the
// server's open packet is read and returned; with sid it joins an existing
// polling session for an upgrade.
func (c *Conn) dialWebSocket(ctx context.Context, sid string) (*websocket.Conn, Handshake, error) {
	// gorilla bounds the handshake (and a proxy's CONNECT) by deadline
	// only; closing the TCP connection when ctx ends makes cancellation
	// immediate too, so Close never waits out a HandshakeTimeout.
	var mu sync.Mutex
	var stops []func() bool
	base := c.cfg.netDialer()
	d := websocket.Dialer{
		Proxy: c.cfg.Proxy,
		NetDialContext: func(dctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := base.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			mu.Lock()
			stops = append(stops, stop)
			mu.Unlock()
			return conn, nil
		},
		HandshakeTimeout:  c.cfg.HandshakeTimeout,
		TLSClientConfig:   c.cfg.tlsConfig(),
		EnableCompression: false,
		Jar:               c.cfg.Jar,
	}
	ws, resp, err := d.DialContext(ctx, c.cfg.endpoint(TransportWebSocket, sid), c.cfg.Header)
	mu.Lock()
	for _, stop := range stops {
		stop()
	}
	mu.Unlock()
	if err != nil {
		if resp != nil {
			return nil, Handshake{}, fmt.Errorf("engineio: websocket dial: status %d: %w: %w", resp.StatusCode, ErrHandshake, err)
		}
		return nil, Handshake{}, fmt.Errorf("engineio: websocket dial: %w", err)
	}
	if sid != "" {
		return ws, Handshake{}, nil
	}
	// The open packet must come within the handshake deadline; a server
	// that upgrades and then says nothing is as bad as a tarpit.
	if dl, ok := ctx.Deadline(); ok {
		ws.SetReadDeadline(dl)
	}
	ws.SetReadLimit(c.cfg.MaxReadPayload)
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	_, data, err := ws.ReadMessage()
	stop()
	if err != nil {
		ws.Close()
		return nil, Handshake{}, fmt.Errorf("engineio: websocket handshake: %w", err)
	}
	p, err := DecodeText(data)
	if err == nil && p.Type != Open {
		err = fmt.Errorf("first packet is %v, not open: %w", p.Type, ErrHandshake)
	}
	var hs Handshake
	if err == nil {
		hs, err = ParseHandshake(p.Data)
	}
	if err != nil {
		ws.Close()
		return nil, Handshake{}, fmt.Errorf("engineio: websocket handshake: %w", err)
	}
	ws.SetReadDeadline(time.Time{})
	return ws, hs, nil
}

// upgrader moves a polling session to WebSocket with the probe sequence of
// Engine.IO v4 "Upgrade": 2probe → 3probe, pause polling, 5. Failure leaves
// the session on polling.
func (c *Conn) upgrader() {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	ws, err := c.probe(ctx)
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Info("upgrade to websocket failed; staying on polling", "err", err)
		}
		return
	}
	// Pause polling: no new GET after the one in flight, which the server
	// answers with a noop once it has seen the probe.
	c.paused.Store(true)
	select {
	case <-c.pollDone:
	case <-ctx.Done():
		ws.Close()
		if c.ctx.Err() == nil {
			c.fail(fmt.Errorf("engineio: upgrade: polling did not pause: %w", ErrUpgrade))
		}
		return
	}
	if c.ctx.Err() != nil {
		ws.Close()
		return
	}
	select {
	case c.upgrade <- ws:
	case <-c.ctx.Done():
		ws.Close()
		return
	}
	select {
	case <-c.upDone:
	case <-c.ctx.Done():
		return
	}
	c.log.Debug("upgraded to websocket", "sid", c.hs.SID)
	if c.cfg.OnUpgrade != nil {
		c.cfg.OnUpgrade()
	}
	c.wg.Add(1)
	go c.readWebSocket(ws)
}

func (c *Conn) probe(ctx context.Context) (*websocket.Conn, error) {
	ws, _, err := c.dialWebSocket(ctx, c.hs.SID)
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	ws.SetWriteDeadline(dl)
	ws.SetReadDeadline(dl)
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		ws.Close()
		return nil, fmt.Errorf("engineio: probe: %w: %w", ErrUpgrade, err)
	}
	_, data, err := ws.ReadMessage()
	if err != nil || string(data) != "3probe" {
		ws.Close()
		return nil, fmt.Errorf("engineio: probe answer %q: %w: %v", data, ErrUpgrade, err)
	}
	ws.SetReadDeadline(time.Time{})
	return ws, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
