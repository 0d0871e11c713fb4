package signaling

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/signaling/engineio"
	"tether/signaling/socketio"
)

// Handlers receive what the room tells the appliance. They run one at a
// time on the socket's dispatch goroutine and must not block for long (the
// WebRTC layer only enqueues). Nil handlers are skipped.
type Handlers struct {
	// Verified is called after every successful session:verify, with the
	// ICE servers the WebRTC layer must use from now on.
	Verified func(VerifyReply)
	// Joined is called after every successful room:join, with the members
	// present (a customer already waiting shows up here after a reconnect).
	Joined func(JoinReply)
	// Reconnected is called after every connect, recovered or not; the
	// WebRTC layer ICE-restarts if its peer is not connected.
	Reconnected   func(recovered bool)
	UserJoined    func(RoomEvent)
	UserLeft      func(RoomEvent)
	CallEnded     func(RoomEvent)
	Signal        func(Signal)
	SessionExpire func()
}

// DeviceConfig configures the appliance side of the room protocol.
type DeviceConfig struct {
	HubURL string
	// CurrentHubURL, when set, names the hub for every connection (the
	// hub of the latest login, which may differ from HubURL); "" keeps
	// HubURL.
	CurrentHubURL func() string
	// Token returns the stored session token; called on every connect.
	Token func() string
	// RoomID overrides the room from session:verify when set.
	RoomID string
	// RootCAs verifies a private hub's certificate.
	RootCAs *x509.CertPool
	// Transports in order; default websocket then polling. Preferred, when
	// set, is tried first (the last working transport from the store).
	Transports []string
	Preferred  string
	// KeepaliveInterval (default 25 s, the seed's keepAliveInterval) and
	// KeepaliveTimeout (default 5 s; a missed keep-alive reconnects).
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// StatusInterval for device:status (default 30 s); Status builds it.
	StatusInterval time.Duration
	Status         func() any
	// NetworkChanged delivers link/route events (package netwatch).
	NetworkChanged <-chan struct{}
	// OnSocketStatus and OnSocketEvent observe the socket for health.
	OnSocketStatus func(socketio.Status)
	OnSocketEvent  func(socketio.ManagerEvent)

	Handlers Handlers
	// Engine and socket tuning for tests; zero values are the defaults.
	Engine engineio.Config
	Socket socketio.Config

	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Device is the appliance's persistent connection to the room: it never
// gives up except on session_expired, re-verifies and re-joins after every
// reconnect that did not recover the session, and keeps the socket alive.
type Device struct {
	cfg    DeviceConfig
	client *socketio.Client
	clk    clockwork.Clock
	log    *slog.Logger

	mu      sync.Mutex
	roomID  string
	rtt     time.Duration
	kick    chan struct{}  // status change: send device:status now
	refresh chan time.Time // when the ICE credentials need renewing (latest wins)
}

// NewDevice validates cfg and builds the client.
func NewDevice(cfg DeviceConfig) (*Device, error) {
	if cfg.HubURL == "" {
		return nil, fmt.Errorf("signaling: hub URL is empty")
	}
	if cfg.Token == nil {
		return nil, fmt.Errorf("signaling: no token source")
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 25 * time.Second
	}
	if cfg.KeepaliveTimeout <= 0 {
		cfg.KeepaliveTimeout = 5 * time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Device{cfg: cfg, clk: cfg.Clock, log: cfg.Logger.With("component", "signaling"), kick: make(chan struct{}, 1), refresh: make(chan time.Time, 1)}
	sc := cfg.Socket
	sc.Engine = cfg.Engine
	sc.Engine.URL = cfg.HubURL
	if cfg.RootCAs != nil {
		sc.Engine.RootCAs = cfg.RootCAs
	}
	sc.Transports = cfg.Transports
	if cfg.Preferred != "" {
		sc.Transports = preferFirst(sc.Transports, cfg.Preferred)
	}
	sc.URL = cfg.CurrentHubURL
	sc.Persistent = true
	sc.Auth = func() map[string]any { return map[string]any{"role": "device", "token": cfg.Token()} }
	sc.OnConnect = d.onConnect
	sc.OnRecovered = d.onRecovered
	sc.OnStatus = cfg.OnSocketStatus
	sc.OnEvent = cfg.OnSocketEvent
	sc.NetworkChanged = cfg.NetworkChanged
	// After a network change a socket that no longer answers within a
	// few round trips is replaced at once: its TCP connection sits in
	// retransmission backoff, and a new one is faster than waiting it out.
	sc.Liveness = func(ctx context.Context) error {
		timeout := 3 * d.RTT()
		if timeout < 300*time.Millisecond {
			timeout = 300 * time.Millisecond
		}
		_, err := d.keepalive(ctx, timeout)
		return err
	}
	sc.Clock, sc.Logger = cfg.Clock, cfg.Logger
	c, err := socketio.New(sc)
	if err != nil {
		return nil, err
	}
	d.client = c
	d.registerHandlers()
	return d, nil
}

func preferFirst(list []string, t string) []string {
	if len(list) == 0 {
		list = []string{engineio.TransportWebSocket, engineio.TransportPolling}
	}
	out := []string{t}
	for _, v := range list {
		if v != t {
			out = append(out, v)
		}
	}
	return out
}

// Client exposes the socket for status and tests.
func (d *Device) Client() *socketio.Client { return d.client }

// Run keeps the device connected until ctx ends. It owns the socket, the
// keep-alive and the status timers.
func (d *Device) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() { defer wg.Done(); d.keepaliveLoop(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); d.refreshLoop(ctx) }()
	return d.client.Run(ctx)
}

// onConnect is the connect hook: session verify, then room:join (the seed's
// "Admin start-up" steps 2 and 4, again after every reconnect).
func (d *Device) onConnect(ctx context.Context, recovered bool) error {
	v, err := d.verify(ctx)
	if err != nil {
		return err
	}
	room := d.cfg.RoomID
	if room == "" {
		room = v.RoomID
	}
	if room == "" {
		return fmt.Errorf("session:verify: no roomId and none configured: %w", ErrBadMessage)
	}
	d.mu.Lock()
	d.roomID = room
	d.mu.Unlock()
	d.scheduleRefresh(v)
	if h := d.cfg.Handlers.Verified; h != nil {
		h(v)
	}
	jctx, cancel2 := clockwork.WithTimeout(ctx, d.clk, 10*time.Second)
	defer cancel2()
	args, err := d.client.EmitWithAck(jctx, EvRoomJoin, map[string]any{"roomId": room})
	if err != nil {
		return fmt.Errorf("room:join: %w", err)
	}
	var j JoinReply
	if err := args.Decode(0, &j); err != nil {
		return fmt.Errorf("room:join answer: %w", err)
	}
	if !j.OK {
		if j.Error == ErrCodeSessionExpired {
			return fmt.Errorf("room:join: %w", socketio.ErrSessionExpired)
		}
		return fmt.Errorf("room:join: %w: %s", ErrRefused, j.Error)
	}
	d.log.Info("joined room", "room", room, "members", len(j.Members), "recovered", recovered)
	if h := d.cfg.Handlers.Joined; h != nil {
		h(j)
	}
	if h := d.cfg.Handlers.Reconnected; h != nil {
		h(recovered)
	}
	d.StatusChanged()
	return nil
}

// onRecovered follows a reconnect that recovered the session: the hub
// kept the socket in its room (no verify, no join), but the signals this
// side emitted into the dead connection before it was noticed are lost
// (recovery replays the server's packets only). Without this call the
// WebRTC layer never learned the socket came back: its ICE-restart offer,
// sent during a 30 s link cut, stayed unanswered for good while every
// backoff attempt declined to re-send it (tether-bench link cuts,
// 2026-12-03).
func (d *Device) onRecovered() {
	d.mu.Lock()
	room := d.roomID
	d.mu.Unlock()
	// The same line as a join's, so that "back in the room" is one thing
	// to look for in the log (the bench does); no room:join was sent.
	d.log.Info("joined room", "room", room, "recovered", true, "via", "session recovery")
	if h := d.cfg.Handlers.Reconnected; h != nil {
		h(true)
	}
	d.StatusChanged()
}

// verify emits session:verify with the stored token and checks the answer.
func (d *Device) verify(ctx context.Context) (VerifyReply, error) {
	vctx, cancel := clockwork.WithTimeout(ctx, d.clk, 10*time.Second)
	defer cancel()
	args, err := d.client.EmitWithAck(vctx, EvSessionVerify, map[string]any{"token": d.cfg.Token()})
	if err != nil {
		return VerifyReply{}, fmt.Errorf("session:verify: %w", err)
	}
	var v VerifyReply
	if err := args.Decode(0, &v); err != nil {
		return VerifyReply{}, fmt.Errorf("session:verify answer: %w", err)
	}
	if !v.OK {
		if v.Error == ErrCodeSessionExpired {
			return VerifyReply{}, fmt.Errorf("session:verify: %w", socketio.ErrSessionExpired)
		}
		err := fmt.Errorf("session:verify: %w: %s", ErrRefused, v.Error)
		if v.Error == ErrCodeBusy {
			// The socket reconnects no sooner than the hub asked.
			err = socketio.RetryAfterMs(v.RetryAfterMs, err)
		}
		return VerifyReply{}, err
	}
	return v, nil
}

// credentialsExpiry is the earliest expiry of the TURN REST API usernames
// ("<unix expiry>:<user>", draft-uberti-behave-turn-rest) among servers;
// false when none has one (static credentials, or STUN only).
func credentialsExpiry(servers []ICEServer) (time.Time, bool) {
	var first time.Time
	for _, s := range servers {
		exp, _, ok := strings.Cut(s.Username, ":")
		if !ok {
			continue
		}
		sec, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || sec <= 0 {
			continue
		}
		if t := time.Unix(sec, 0); first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// scheduleRefresh asks refreshLoop to verify again when 80 % of the
// credentials' remaining life has passed (docs/protocol.md, "TURN
// credentials"): the hub's are short-lived, and a session:verify on a live
// socket is the contract's way to get new ones.
func (d *Device) scheduleRefresh(v VerifyReply) {
	exp, ok := credentialsExpiry(v.ICEServers)
	if !ok {
		return
	}
	now := d.clk.Now()
	at := now.Add(max(exp.Sub(now)*4/5, time.Second))
	select {
	case <-d.refresh:
	default:
	}
	d.refresh <- at
}

// refreshLoop re-verifies on the live socket when the ICE credentials are
// due, hands the new servers to the Verified handler (the WebRTC layer
// uses them from its next gathering), and retries every 30 s while the
// socket is down or the hub does not answer. A reconnect verifies anyway
// and reschedules.
func (d *Device) refreshLoop(ctx context.Context) {
	var t clockwork.Timer
	var due <-chan time.Time
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-d.refresh:
			if t != nil {
				t.Stop()
			}
			t = d.clk.NewTimer(d.clk.Until(at))
			due = t.Chan()
		case <-due:
			due = nil
			if d.client.Status().State != socketio.Connected {
				t = d.clk.NewTimer(30 * time.Second)
				due = t.Chan()
				continue
			}
			v, err := d.verify(ctx)
			switch {
			case errors.Is(err, socketio.ErrSessionExpired):
				d.log.Warn("session expired at credential refresh")
				d.client.ExpireSession()
				if h := d.cfg.Handlers.SessionExpire; h != nil {
					h()
				}
				continue
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				d.log.Warn("ICE credential refresh failed; retrying", "err", err)
				t = d.clk.NewTimer(30 * time.Second)
				due = t.Chan()
				continue
			}
			d.log.Info("ICE credentials refreshed", "servers", len(v.ICEServers))
			d.scheduleRefresh(v)
			if h := d.cfg.Handlers.Verified; h != nil {
				h(v)
			}
		}
	}
}

func (d *Device) registerHandlers() {
	h := d.cfg.Handlers
	room := func(f func(RoomEvent)) socketio.Handler {
		return func(args socketio.Args, _ func(...any)) {
			var e RoomEvent
			if err := args.Decode(0, &e); err != nil {
				d.log.Warn("bad room event", "err", err)
				return
			}
			if f != nil {
				f(e)
			}
		}
	}
	d.client.On(EvUserJoined, room(h.UserJoined))
	d.client.On(EvUserLeft, room(h.UserLeft))
	d.client.On(EvCallEnded, room(h.CallEnded))
	d.client.On(EvSignal, func(args socketio.Args, _ func(...any)) {
		var s Signal
		if err := args.Decode(0, &s); err != nil {
			d.log.Warn("bad signal", "err", err)
			return
		}
		if h.Signal != nil {
			h.Signal(s)
		}
	})
	d.client.On(EvSessionExpired, func(socketio.Args, func(...any)) {
		d.log.Warn("hub says the session expired")
		d.client.ExpireSession()
		if h.SessionExpire != nil {
			h.SessionExpire()
		}
	})
}

// RTT returns the last keep-alive round trip.
func (d *Device) RTT() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rtt
}

// Relogin is called after a new login stored a new token (setup page,
// `tetherd login` while running, re-login after session:expired), in any
// socket state. A login is a new identity, possibly another account with
// another room: the socket forgets the old session's recovery state and
// connects again at once, so session:verify and room:join run on the new
// connection and the room comes from the new verify. Nothing of the old
// room is kept here: the appliance learns the new room's members from the
// join (Handlers.Joined).
func (d *Device) Relogin() {
	d.mu.Lock()
	d.roomID = ""
	d.mu.Unlock()
	d.client.NewIdentity()
}

// SendSignal forwards a Perfect Negotiation message to a room member. It is
// not buffered across a disconnect (signalling goes stale; the WebRTC layer
// renegotiates after the reconnect).
func (d *Device) SendSignal(ctx context.Context, s Signal) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return d.client.EmitVolatile(ctx, EvSignal, s)
}

// EndCall tells the room the call with userID ended.
func (d *Device) EndCall(ctx context.Context, userID, reason string) error {
	d.mu.Lock()
	room := d.roomID
	d.mu.Unlock()
	args, err := d.client.EmitWithAck(ctx, EvCallEnded, RoomEvent{RoomID: room, UserID: userID, Reason: reason})
	if err != nil {
		return err
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := args.Decode(0, &r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("call:ended: %w: %s", ErrRefused, r.Error)
	}
	return nil
}

// StatusChanged sends device:status soon (coalesced).
func (d *Device) StatusChanged() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Device) keepalive(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	kctx, cancel := clockwork.WithTimeout(ctx, d.clk, timeout)
	defer cancel()
	sent := d.clk.Now()
	args, err := d.client.EmitWithAck(kctx, EvKeepalive, map[string]any{"t": sent.UnixMilli()})
	if err != nil {
		return 0, err
	}
	var r KeepaliveReply
	if err := args.Decode(0, &r); err != nil {
		return 0, err
	}
	rtt := d.clk.Since(sent)
	d.mu.Lock()
	d.rtt = rtt
	d.mu.Unlock()
	return rtt, nil
}

// keepaliveLoop sends keepalive every KeepaliveInterval while connected
// (the seed's 25 s socket keep-alive) and device:status on change and every
// StatusInterval. A keep-alive without answer drops the socket: the
// Engine.IO watchdog would notice too, but only after pingInterval +
// pingTimeout.
func (d *Device) keepaliveLoop(ctx context.Context) {
	ka := d.clk.NewTicker(d.cfg.KeepaliveInterval)
	defer ka.Stop()
	st := d.clk.NewTicker(d.cfg.StatusInterval)
	defer st.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ka.Chan():
			if d.client.Status().State != socketio.Connected {
				continue
			}
			if _, err := d.keepalive(ctx, d.cfg.KeepaliveTimeout); err != nil && ctx.Err() == nil {
				if errors.Is(err, socketio.ErrAckTimeout) {
					d.log.Warn("keep-alive unanswered; reconnecting", "err", err)
					d.client.Reconnect()
				} else {
					d.log.Debug("keep-alive", "err", err)
				}
			}
		case <-st.Chan():
			d.sendStatus(ctx, true)
		case <-d.kick:
			// A change (or a fresh join) is worth delivering: not
			// volatile, since a kick from inside the connect hook arrives
			// while the hook still holds the socket and a volatile emit
			// would be dropped; it waits in the send buffer instead.
			d.sendStatus(ctx, false)
		}
	}
}

func (d *Device) sendStatus(ctx context.Context, volatile bool) {
	if d.cfg.Status == nil || d.client.Status().State != socketio.Connected {
		return
	}
	emit := d.client.Emit
	if volatile {
		emit = d.client.EmitVolatile
	}
	if err := emit(ctx, EvDeviceStatus, d.cfg.Status()); err != nil {
		d.log.Debug("device:status", "err", err)
	}
}
