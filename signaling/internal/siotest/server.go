package siotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	// ctlTimeout bounds one control request when the caller gives no context.
	ctlTimeout = 5 * time.Second
	// portBusyRetry bounds how long Restart retries a busy port.
	portBusyRetry = 5 * time.Second
	// pollEvery is the control-server polling period of the Wait helpers.
	pollEvery = 20 * time.Millisecond
	// exitAddrInUse is server.js's exit code when its port is taken.
	exitAddrInUse = 98
)

// ServerOptions configure the official socket.io server (testdata/node/server.js).
// Zero values mean socket.io's defaults.
type ServerOptions struct {
	// Transports the server accepts; default ["polling", "websocket"].
	// ["polling"] refuses websocket connections (HTTP 400 "Transport unknown").
	Transports []string
	// Recovery enables connectionStateRecovery with skipMiddlewares.
	Recovery bool
	// RecoveryWindow is maxDisconnectionDuration (default 2 min).
	RecoveryWindow time.Duration
	// PingInterval and PingTimeout are the Engine.IO heartbeat (25 s / 20 s).
	PingInterval, PingTimeout time.Duration
	// MaxHTTPBufferSize is maxHttpBufferSize in bytes (default 1e6).
	MaxHTTPBufferSize int
	// Port to listen on, 0 for a random free port (Restart reuses the port).
	Port int
	// NoUpgrades sets allowUpgrades=false (polling clients never upgrade).
	NoUpgrades bool
	// Netns runs the server inside that network namespace (ip netns exec)
	// listening on Host; the control port then stays inside the namespace,
	// so only Kill, Restart, Stop, Cont and URL work from the test.
	Netns string
	// Host is the listen address; default 127.0.0.1.
	Host string
	// Welcome makes the server broadcast a "welcome" event to each new
	// socket's own room, giving every client a recovery offset (see the
	// package doc).
	Welcome bool
}

// serverJSON is the options object server.js reads.
type serverJSON struct {
	Port              int      `json:"port"`
	Transports        []string `json:"transports,omitempty"`
	Recovery          bool     `json:"recovery,omitempty"`
	RecoveryWindowMs  int64    `json:"recoveryWindowMs,omitempty"`
	PingInterval      int64    `json:"pingInterval,omitempty"`
	PingTimeout       int64    `json:"pingTimeout,omitempty"`
	MaxHTTPBufferSize int      `json:"maxHttpBufferSize,omitempty"`
	AllowUpgrades     bool     `json:"allowUpgrades"`
	Welcome           bool     `json:"welcome,omitempty"`
	Host              string   `json:"host,omitempty"`
}

// Server is a running official socket.io server on 127.0.0.1.
// Its methods may be called from any goroutine.
type Server struct {
	t    testing.TB
	opts ServerOptions
	node string
	dir  string
	http *http.Client

	mu      sync.Mutex // guards the fields below
	p       *proc
	port    int
	ctlPort int
	readyAt time.Time
}

// StartServer starts the official socket.io server and waits until it
// listens. It is killed in t.Cleanup. It skips t when node is unavailable
// and fails t when the server does not start.
func StartServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	node, dir := requireNode(t)
	s := &Server{
		t: t, opts: o, node: node, dir: dir,
		http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	t.Cleanup(func() {
		s.Kill()
		s.http.CloseIdleConnections()
	})
	if err := s.start(o.Port, 0); err != nil {
		t.Fatalf("siotest: start server: %v", err)
	}
	return s
}

// start launches server.js on port, retrying for up to busyRetry while the
// port is in use.
func (s *Server) start(port int, busyRetry time.Duration) error {
	o := s.opts
	cfg := serverJSON{
		Port:              port,
		Transports:        o.Transports,
		Recovery:          o.Recovery,
		RecoveryWindowMs:  o.RecoveryWindow.Milliseconds(),
		PingInterval:      o.PingInterval.Milliseconds(),
		PingTimeout:       o.PingTimeout.Milliseconds(),
		MaxHTTPBufferSize: o.MaxHTTPBufferSize,
		AllowUpgrades:     !o.NoUpgrades,
		Welcome:           o.Welcome,
		Host:              o.Host,
	}
	arg, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("siotest: marshal options: %w", err)
	}
	deadline := time.Now().Add(busyRetry)
	for {
		err := s.startOnce(arg)
		if err == nil {
			return nil
		}
		s.mu.Lock()
		p := s.p
		s.mu.Unlock()
		busy := p != nil && p.exited() && p.exitCode() == exitAddrInUse
		if !busy || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the port is held by someone else: poll it
	}
}

func (s *Server) startOnce(arg []byte) error {
	type ready struct {
		Ready   bool  `json:"ready"`
		Port    int   `json:"port"`
		CtlPort int   `json:"ctlPort"`
		T       int64 `json:"t"`
	}
	readyCh := make(chan ready, 1)
	seen := false // owned by the stdout reader goroutine
	onLine := func(line []byte) {
		if !seen {
			var r ready
			if json.Unmarshal(line, &r) == nil && r.Ready {
				seen = true
				readyCh <- r
				return
			}
		}
		s.t.Logf("node server stdout: %s", line)
	}
	p, err := startProcIn(s.t, s.opts.Netns, s.node, s.dir, "server.js", string(arg), "node server: ", onLine)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case r := <-readyCh:
		s.mu.Lock()
		s.port, s.ctlPort, s.readyAt = r.Port, r.CtlPort, time.UnixMilli(r.T)
		s.mu.Unlock()
		return nil
	case <-p.done:
		return fmt.Errorf("%w: server.js exited with code %d", ErrNotReady, p.exitCode())
	case <-timer.C:
		p.kill()
		return fmt.Errorf("%w: no ready line within %v", ErrNotReady, readyTimeout)
	}
}

// URL is the server's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string {
	host := s.opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

// Port is the socket.io listening port (stable across Restart).
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// ReadyAt is when the current server process started listening (its own
// clock, ms resolution): the "hub up" instant for reconnect figures.
func (s *Server) ReadyAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyAt
}

// Pid is the current server process's id (0 when none): cmd/tether-bench
// reads its RSS per idle socket as the baseline of the hub's.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil || s.p.cmd.Process == nil {
		return 0
	}
	return s.p.cmd.Process.Pid
}

// Kill sends SIGKILL (also to a stopped server) and waits until it is gone.
// It is idempotent.
func (s *Server) Kill() {
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Restart kills the server if it still runs and starts it again on the same
// port with the same options, waiting until it is ready. It retries briefly
// while the port is busy and fails t if the server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(s.Port(), portBusyRetry); err != nil {
		s.t.Fatalf("siotest: restart server: %v", err)
	}
}

// Stop sends SIGSTOP: the server stops answering anything, pings included,
// while the kernel still completes TCP handshakes. Cont resumes it.
func (s *Server) Stop() {
	s.t.Helper()
	if sigStop == nil {
		s.t.Skip("siotest: SIGSTOP unsupported on this OS")
	}
	s.signal(sigStop)
}

// Cont sends SIGCONT to a stopped server.
func (s *Server) Cont() {
	s.t.Helper()
	if sigCont == nil {
		s.t.Skip("siotest: SIGCONT unsupported on this OS")
	}
	s.signal(sigCont)
}

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	if p == nil || p.exited() {
		s.t.Fatalf("siotest: %s: server not running", sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("siotest: %s: %v", sig, err)
	}
}

// Ctl posts command cmd with body (JSON, may be nil) to the control server
// and decodes the JSON reply into out (may be nil). It is bounded by 5 s.
func (s *Server) Ctl(cmd string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	return s.CtlContext(ctx, cmd, body, out)
}

// CtlContext is Ctl bounded by ctx.
func (s *Server) CtlContext(ctx context.Context, cmd string, body, out any) error {
	s.mu.Lock()
	ctlPort := s.ctlPort
	s.mu.Unlock()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return fmt.Errorf("siotest: ctl %s: marshal: %w", cmd, err)
		}
	}
	url := "http://127.0.0.1:" + strconv.Itoa(ctlPort) + "/ctl/" + cmd
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("siotest: ctl %s: %w", cmd, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("siotest: ctl %s: %w", cmd, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("siotest: ctl %s: read: %w", cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: HTTP %d: %s", ErrCtl, cmd, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("siotest: ctl %s: decode %q: %w", cmd, data, err)
	}
	return nil
}

// Join is one room:join the server received.
type Join struct {
	SocketID  string    `json:"socketId"`
	RoomID    string    `json:"roomId"`
	Account   string    `json:"account"`   // the login account of the socket, "" for good-token
	Recovered bool      `json:"recovered"` // socket.recovered at the time
	At        time.Time `json:"-"`
	T         int64     `json:"t"` // At in Unix ms
}

// SocketInfo describes one socket connected to the server.
type SocketInfo struct {
	ID         string         `json:"id"`  // Socket.IO socket id
	SID        string         `json:"sid"` // Engine.IO session id
	Connected  bool           `json:"connected"`
	Recovered  bool           `json:"recovered"`
	Transport  string         `json:"transport"` // conn.transport.name: "polling" or "websocket"
	Auth       map[string]any `json:"auth"`
	Rooms      []string       `json:"rooms"`
	Handshake  time.Time      `json:"-"`
	HandshakeT int64          `json:"handshakeTime"` // Handshake in Unix ms
}

// Reply is a client's answer to a server-emitted "question" (event "ask").
type Reply struct {
	SocketID string            `json:"socketId"`
	Args     []json.RawMessage `json:"args"`  // binary as {"$binary": base64}, see Binary
	Error    string            `json:"error"` // "operation has timed out" when unanswered
	T        int64             `json:"t"`
}

// ServerEvent is one event the server received from a client, or (from
// Connections/Disconnects) one connection or disconnection.
type ServerEvent struct {
	SocketID  string            `json:"socketId"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Recovered bool              `json:"recovered"`
	Transport string            `json:"transport"`
	Reason    string            `json:"reason"`
	T         int64             `json:"t"` // Unix ms
}

// Joins returns every room:join received since start or the last Reset.
func (s *Server) Joins() ([]Join, error) {
	var js []Join
	if err := s.Ctl("joins", nil, &js); err != nil {
		return nil, err
	}
	for i := range js {
		js[i].At = time.UnixMilli(js[i].T)
	}
	return js, nil
}

// Sockets lists the sockets connected to the default namespace.
func (s *Server) Sockets() ([]SocketInfo, error) {
	var ss []SocketInfo
	if err := s.Ctl("sockets", nil, &ss); err != nil {
		return nil, err
	}
	for i := range ss {
		ss[i].Handshake = time.UnixMilli(ss[i].HandshakeT)
	}
	return ss, nil
}

// Replies returns the recorded answers to "question".
func (s *Server) Replies() ([]Reply, error) {
	var rs []Reply
	err := s.Ctl("replies", nil, &rs)
	return rs, err
}

// Events returns every event received from clients (at most the last 10000).
func (s *Server) Events() ([]ServerEvent, error) { return s.serverEvents("events") }

// Connections returns every "connection" (with recovered and transport).
func (s *Server) Connections() ([]ServerEvent, error) { return s.serverEvents("connections") }

// Disconnects returns every server-side "disconnect" with its reason.
func (s *Server) Disconnects() ([]ServerEvent, error) { return s.serverEvents("disconnects") }

func (s *Server) serverEvents(cmd string) ([]ServerEvent, error) {
	var es []ServerEvent
	err := s.Ctl(cmd, nil, &es)
	return es, err
}

// DisconnectAll calls socket.disconnect(true) on every socket: a Socket.IO
// DISCONNECT and then the Engine.IO close (not recoverable).
func (s *Server) DisconnectAll() (int, error) { return s.countCmd("disconnectAll", nil) }

// CloseTransports closes every Engine.IO connection without a Socket.IO
// DISCONNECT (recoverable); terminate drops websocket TCP connections
// without a close frame.
func (s *Server) CloseTransports(terminate bool) (int, error) {
	return s.countCmd("closeTransports", map[string]any{"terminate": terminate})
}

func (s *Server) countCmd(cmd string, body any) (int, error) {
	var r struct {
		Count int `json:"count"`
	}
	err := s.Ctl(cmd, body, &r)
	return r.Count, err
}

// Emit broadcasts event with args to every connected socket (io.emit, so
// with recovery on it carries an offset). []byte args (also inside []any and
// map[string]any) are sent as binary.
func (s *Server) Emit(event string, args ...any) error {
	return s.Ctl("emit", map[string]any{"event": event, "args": EncodeArgs(args)}, nil)
}

// EmitTo sends event to one socket id (socket.emit: no recovery offset).
func (s *Server) EmitTo(socketID, event string, args ...any) error {
	return s.Ctl("emit", map[string]any{"event": event, "id": socketID, "args": EncodeArgs(args)}, nil)
}

// Expire makes later session:verify calls answer {ok:false,
// error:"session_expired"} and emit session:expired; connect also refuses
// device CONNECTs with CONNECT_ERROR "session_expired"; now emits
// session:expired to the connected devices at once.
func (s *Server) Expire(connect, now bool) error {
	return s.Ctl("expire", map[string]any{"connect": connect, "now": now}, nil)
}

// Built-in login accounts of server.js (POST /api/login): each counter has
// its own room.
const (
	Account1, Password1, Room1 = "counter-1", "password-1", "room-1"
	Account2, Password2, Room2 = "counter-2", "password-2", "room-2"
)

// Login is the answer of the server's POST /api/login.
type Login struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	DeviceID  string    `json:"deviceId"`
	RoomID    string    `json:"roomId"`
}

// Login logs in as a counter account (POST /api/login on the socket.io
// port) and returns the new session; every call mints a new token.
func (s *Server) Login(ctx context.Context, user, password string) (Login, error) {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/api/login", bytes.NewReader(b))
	if err != nil {
		return Login{}, fmt.Errorf("siotest: login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return Login{}, fmt.Errorf("siotest: login: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Login{}, fmt.Errorf("siotest: login: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Login{}, fmt.Errorf("%w: login: HTTP %d: %s", ErrCtl, resp.StatusCode, data)
	}
	var l Login
	if err := json.Unmarshal(data, &l); err != nil {
		return Login{}, fmt.Errorf("siotest: login: decode %q: %w", data, err)
	}
	return l, nil
}

// Verify is one session:verify with a login token.
type Verify struct {
	SocketID  string `json:"socketId"`
	Account   string `json:"account"`
	Recovered bool   `json:"recovered"`
	T         int64  `json:"t"`
}

// Verifies returns every session:verify carrying a login token.
func (s *Server) Verifies() ([]Verify, error) {
	var vs []Verify
	err := s.Ctl("verifies", nil, &vs)
	return vs, err
}

// Revoke expires the login tokens of account (every account when empty)
// and emits session:expired to its connected devices, leaving their
// connections (and so their recoverable sessions) to the client. It
// returns how many sockets were told.
func (s *Server) Revoke(account string) (int, error) {
	return s.countCmd("revoke", map[string]any{"account": account})
}

// Reset clears the recorded joins, replies, events and the expired flags.
func (s *Server) Reset() error { return s.Ctl("reset", nil, nil) }

// WaitJoins polls until at least n room:joins were recorded or ctx ends.
func (s *Server) WaitJoins(ctx context.Context, n int) ([]Join, error) {
	var js []Join
	err := s.poll(ctx, func() (bool, error) {
		var err error
		js, err = s.Joins()
		return len(js) >= n, err
	})
	return js, err
}

// WaitSockets polls Sockets until ok returns true or ctx ends.
func (s *Server) WaitSockets(ctx context.Context, ok func([]SocketInfo) bool) ([]SocketInfo, error) {
	var ss []SocketInfo
	err := s.poll(ctx, func() (bool, error) {
		var err error
		ss, err = s.Sockets()
		return err == nil && ok(ss), err
	})
	return ss, err
}

func (s *Server) poll(ctx context.Context, done func() (bool, error)) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, err := done()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("siotest: wait: %w (last error: %v)", ctx.Err(), err)
			}
			return fmt.Errorf("siotest: wait: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
