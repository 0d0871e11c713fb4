package socketio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/signaling/engineio"
)

// State is the connection state of a Client.
type State int

// Client states.
const (
	Disconnected   State = iota // not started, or stopped
	Connecting                  // an attempt is in progress
	Connected                   // the namespace is connected
	Backoff                     // waiting before the next attempt
	SessionExpired              // the server said session_expired; waiting for Resume
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Backoff:
		return "backoff"
	case SessionExpired:
		return "session_expired"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is a snapshot of the client for health, metrics and logs.
type Status struct {
	State     State
	Transport string // transport of the current or last connection
	SID       string // Socket.IO socket id
	Attempt   int    // reconnection attempt in progress (0 when connected)
	Recovered bool   // the last connection recovered the previous session
	LastError string
	Since     time.Time // when State was entered

	Connects   uint64 // successful namespace connects
	Reconnects uint64 // connects after the first
	Attempts   uint64 // reconnection attempts in total
	Drops      uint64 // connections lost
}

// EventKind names the manager events of socket.io-client.
type EventKind int

// Manager events, as socket.io-client's Manager emits them.
const (
	EventConnect EventKind = iota
	EventDisconnect
	EventReconnectAttempt
	EventReconnect
	EventReconnectError
	EventReconnectFailed
	EventConnectError
)

func (k EventKind) String() string {
	return [...]string{"connect", "disconnect", "reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed", "connect_error"}[k]
}

// ManagerEvent is one manager event with its details.
type ManagerEvent struct {
	Kind      EventKind
	Attempt   int
	Transport string
	Recovered bool
	Err       error
}

// Config configures a Client. Zero values take socket.io-client 4.8's
// defaults, except where noted for the appliance.
type Config struct {
	// Engine configures the Engine.IO sessions (URL, path, timeouts, TLS,
	// proxy). Its Clock and Logger default to the Client's.
	Engine engineio.Config
	// URL, when set, names the server for every attempt (a new login may
	// name another server); "" keeps Engine.URL. A session is recovered
	// only on the server it was made on.
	URL func() string
	// Namespace is the Socket.IO namespace; default "/".
	Namespace string
	// Auth returns the CONNECT payload; it is called for every attempt so
	// a new token is picked up at once. It must return the same payload
	// for the same identity: a session is recovered only by a CONNECT with
	// the auth it was made with (see NewIdentity).
	Auth func() map[string]any
	// Transports in order of preference; default [websocket, polling].
	Transports []string
	// NoTryAllTransports disables falling back to the next transport when
	// one cannot open (socket.io-client's tryAllTransports is on here).
	NoTryAllTransports bool

	// ReconnectionDelay (default 1 s), ReconnectionDelayMax (default 5 s),
	// RandomizationFactor (default 0.5; negative disables jitter) and
	// ReconnectionAttempts (0 = infinite) as in socket.io-client.
	ReconnectionDelay    time.Duration
	ReconnectionDelayMax time.Duration
	RandomizationFactor  float64
	ReconnectionAttempts int

	// Persistent keeps retrying after a server-side disconnect and after a
	// CONNECT_ERROR other than session_expired (the appliance's mode); the
	// JavaScript client stops in both cases.
	Persistent bool
	// SessionExpiredMessage is the CONNECT_ERROR message that stops retries
	// until Resume; default "session_expired".
	SessionExpiredMessage string

	// ConnectTimeout bounds the wait for the CONNECT answer after the
	// Engine.IO session opened (default 10 s).
	ConnectTimeout time.Duration
	// AckTimeout is the default acknowledgement timeout of EmitWithAck when
	// its context has no deadline (default 10 s).
	AckTimeout time.Duration
	// SendBuffer bounds the emits kept while disconnected (default 64);
	// SendBufferMaxAge drops those that waited longer (default 10 s), so
	// stale signalling is never replayed after a long outage.
	SendBuffer       int
	SendBufferMaxAge time.Duration

	// OnConnect is the connect hook: it runs after every connect that did
	// not recover the previous session (verify the session, join the room),
	// before buffered emits are flushed. Emits made with the ctx it is given
	// bypass the buffer. An error that wraps ErrSessionExpired stops
	// retries; any other error drops the connection and retries.
	OnConnect func(ctx context.Context, recovered bool) error
	// OnRecovered runs, on the handlers' goroutine and before the
	// server's replay of missed packets, after a connect that recovered
	// the previous session (OnConnect does not run then). Recovery
	// replays only what the server sent: what this client emitted into
	// the dead connection before it was noticed is lost, so a user that
	// must re-send (an unanswered WebRTC offer) learns of the reconnect
	// here.
	OnRecovered func()
	// OnEvent receives manager events; it must not block.
	OnEvent func(ManagerEvent)
	// OnStatus receives a snapshot on every change; it must not block.
	OnStatus func(Status)

	// NetworkChanged delivers link/route events (package netwatch). In
	// backoff the next attempt starts at once; when connected, Liveness is
	// run and a failure reconnects at once.
	NetworkChanged <-chan struct{}
	// Liveness checks a connected socket after a network change, e.g. a
	// keep-alive emit with a short ack timeout.
	Liveness func(ctx context.Context) error
	// ProbeInterval: while backing off after the server refused the TCP
	// connection (nothing listens: it is restarting), the server's port is
	// probed this often and the attempt starts as soon as it accepts.
	// Default 250 ms; negative disables.
	ProbeInterval time.Duration

	Clock  clockwork.Clock
	Logger *slog.Logger
	Rand   func() float64 // default math/rand/v2.Float64
}

func (c Config) withDefaults() (Config, error) {
	if c.Namespace == "" {
		c.Namespace = "/"
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{engineio.TransportWebSocket, engineio.TransportPolling}
	}
	for _, t := range c.Transports {
		if t != engineio.TransportWebSocket && t != engineio.TransportPolling {
			return c, fmt.Errorf("socketio: config: unknown transport %q", t)
		}
	}
	if c.ReconnectionDelay <= 0 {
		c.ReconnectionDelay = time.Second
	}
	if c.ReconnectionDelayMax <= 0 {
		c.ReconnectionDelayMax = 5 * time.Second
	}
	if c.RandomizationFactor == 0 {
		c.RandomizationFactor = 0.5
	} else if c.RandomizationFactor < 0 {
		c.RandomizationFactor = 0
	}
	if c.RandomizationFactor >= 1 {
		return c, fmt.Errorf("socketio: config: RandomizationFactor %v must be below 1", c.RandomizationFactor)
	}
	if c.SessionExpiredMessage == "" {
		c.SessionExpiredMessage = "session_expired"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = 64
	}
	if c.SendBufferMaxAge <= 0 {
		c.SendBufferMaxAge = 10 * time.Second
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = 250 * time.Millisecond
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Engine.Clock == nil {
		c.Engine.Clock = c.Clock
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	eng, err := c.Engine.WithDefaults()
	if err != nil {
		return c, err
	}
	c.Engine = eng
	return c, nil
}

// Handler handles an event from the server. ack is nil unless the server
// asked for an acknowledgement; calling it more than once has no effect.
type Handler func(args Args, ack func(args ...any))

// Client is a Socket.IO client socket on one namespace with its manager:
// it connects, reconnects forever on socket.io-client's backoff, and keeps
// a bounded buffer of emits while disconnected.
//
// One goroutine (Run's) owns the connection state machine; event handlers
// and the connect hook run on a second, serial dispatch goroutine so they
// may emit and wait for acknowledgements.
type Client struct {
	cfg  Config
	log  *slog.Logger
	clk  clockwork.Clock
	http *http.Client

	handlersMu sync.RWMutex
	handlers   map[string]Handler

	cmds chan func(*loop) // run by the owner goroutine

	done     chan struct{} // closed when Run returns
	upgraded chan struct{} // an Engine.IO session moved to WebSocket

	statusMu sync.Mutex
	status   Status
}

// New validates cfg and returns a Client; Run connects it.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "socketio"),
		clk:      cfg.Clock,
		http:     cfg.Engine.HTTPClient(),
		handlers: make(map[string]Handler),
		cmds:     make(chan func(*loop), 16),
		done:     make(chan struct{}),
		upgraded: make(chan struct{}, 1),
	}
	user := c.cfg.Engine.OnUpgrade
	c.cfg.Engine.OnUpgrade = func() {
		select {
		case c.upgraded <- struct{}{}:
		default:
		}
		if user != nil {
			user()
		}
	}
	return c, nil
}

// On registers the handler for an event, replacing any earlier one.
func (c *Client) On(event string, h Handler) {
	c.handlersMu.Lock()
	c.handlers[event] = h
	c.handlersMu.Unlock()
}

// Status returns the current snapshot.
func (c *Client) Status() Status {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	return c.status
}

type hookKey struct{}

// emitReq is one emit on its way to the owner goroutine.
type emitReq struct {
	pkt      Packet
	volatile bool
	bypass   bool // from the connect hook: send now, never buffer
	at       time.Time
	ack      chan ackResult // nil without acknowledgement
	id       int64          // assigned by the owner
}

type ackResult struct {
	args Args
	err  error
}

// Emit sends an event. While disconnected it is buffered (bounded, and
// dropped after SendBufferMaxAge); ErrBufferFull when the buffer is full.
func (c *Client) Emit(ctx context.Context, event string, args ...any) error {
	return c.emit(ctx, event, args, false, nil)
}

// EmitVolatile sends an event only if connected now; otherwise it is
// dropped and ErrNotConnected returned (socket.io's volatile flag).
func (c *Client) EmitVolatile(ctx context.Context, event string, args ...any) error {
	return c.emit(ctx, event, args, true, nil)
}

// EmitWithAck sends an event and waits for the server's acknowledgement,
// until ctx's deadline or else AckTimeout. A connection lost before the
// answer fails the call at once.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = clockwork.WithTimeout(ctx, c.clk, c.cfg.AckTimeout)
		defer cancel()
	}
	ch := make(chan ackResult, 1)
	if err := c.emit(ctx, event, args, false, ch); err != nil {
		return Args{}, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		c.do(func(l *loop) { l.forgetAck(ch) })
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Args{}, fmt.Errorf("socketio: %s: %w", event, ErrAckTimeout)
		}
		return Args{}, fmt.Errorf("socketio: %s: %w", event, ctx.Err())
	}
}

func (c *Client) emit(ctx context.Context, event string, args []any, volatile bool, ack chan ackResult) error {
	data, bufs, err := EncodeArgs(event, args)
	if err != nil {
		return err
	}
	req := &emitReq{
		pkt:      Packet{Type: Event, Namespace: c.cfg.Namespace, ID: NoID, Data: data, Attachments: bufs},
		volatile: volatile,
		bypass:   ctx.Value(hookKey{}) != nil,
		at:       c.clk.Now(),
		ack:      ack,
	}
	if len(bufs) > 0 {
		req.pkt.Type = BinaryEvent
	}
	errc := make(chan error, 1)
	select {
	case c.cmds <- func(l *loop) { errc <- l.emit(req) }:
	case <-c.done:
		return fmt.Errorf("socketio: emit %s: %w", event, ErrNotConnected)
	case <-ctx.Done():
		return fmt.Errorf("socketio: emit %s: %w", event, ctx.Err())
	}
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("socketio: emit %s: %w", event, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("socketio: emit %s: %w", event, ctx.Err())
	}
}

// Resume restarts connecting after SessionExpired. It is a no-op in other
// states. Auth is called again, so it sees a new token; for a new login
// use NewIdentity, which also works while connected.
func (c *Client) Resume() { c.do(func(l *loop) { l.resume() }) }

// NewIdentity tells the client that Auth now returns new credentials (a
// new login, possibly as another account): the connection-state-recovery
// state of the old session (pid, offset) is dropped, a live connection is
// closed (a DISCONNECT queued first, best effort), and a new connection
// starts at once from any state, SessionExpired included. Its CONNECT
// carries no pid and offset, so OnConnect runs on it. Emits still buffered
// for the old identity fail.
//
// Changed auth alone already prevents recovery (a CONNECT whose auth
// differs from the one the session was made with never presents the old
// pid); NewIdentity also covers the same credentials given again and
// makes the change take effect now instead of at the next reconnect.
func (c *Client) NewIdentity() { c.do(func(l *loop) { l.newIdentity() }) }

// ExpireSession stops the client as a session_expired CONNECT_ERROR would
// (for the server's `session:expired` event): it disconnects and waits for
// Resume.
func (c *Client) ExpireSession() {
	c.do(func(l *loop) {
		if l.state != SessionExpired {
			l.sessionExpired(fmt.Errorf("server event: %w", ErrSessionExpired))
		}
	})
}

// Ping returns once the owner goroutine has run a no-op: a supervisor's
// proof that the state machine is not deadlocked.
func (c *Client) Ping(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case c.cmds <- func(*loop) { close(done) }:
	case <-c.done:
		return ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reconnect drops the current connection (if any) and connects again at
// once, without backoff.
func (c *Client) Reconnect() {
	c.do(func(l *loop) { l.reconnectNow(errors.New("socketio: reconnect requested")) })
}

// do runs f on the owner goroutine; false if the client has stopped.
func (c *Client) do(f func(*loop)) bool {
	select {
	case c.cmds <- f:
		return true
	case <-c.done:
		return false
	}
}
