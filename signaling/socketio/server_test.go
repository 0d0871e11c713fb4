package socketio_test

// Tests of the Socket.IO server against our Go client. The test server
// (hubServer) speaks the same test protocol as siotest's server.js: the
// auth middleware, session:verify, room:join, keepalive, echo, echo:back,
// ask and a "welcome" broadcast that gives every client a recovery offset.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
	"tether/signaling/engineio"
	"tether/signaling/socketio"
)

type hubOpts struct {
	transports []string
	noRecovery bool
	noWelcome  bool
	engine     engineio.ServerConfig
	addr       string // listen address; default a free loopback port
}

type replyRec struct {
	id   string
	args []any
	err  error
}

// hubServer is a socketio.Server on a loopback listener with the test
// protocol's handlers. Restart replaces it by a fresh server on the same
// port, as a process restart would.
type hubServer struct {
	t    testing.TB
	opts hubOpts

	mu       sync.Mutex
	srv      *socketio.Server
	hs       *http.Server
	addr     string
	cancel   context.CancelFunc
	runDone  chan error
	joins    []string // socket ids that joined
	replies  []replyRec
	conns    []*socketio.Socket
	discs    []socketio.DisconnectReason
	expired  bool
	upgrades int
	changes  testenv.Changes
	busyAt   []time.Time // CONNECTs with token "busy-token" (the first is refused busy)
}

// busyRetry is what the test server's "busy-token" refusal asks for.
const busyRetry = 700 * time.Millisecond

// busyError is a refusal with CONNECT_ERROR data, as the hub's busy is.
type busyError struct{}

func (busyError) Error() string { return "busy" }
func (busyError) ConnectErrorData() any {
	return map[string]int64{"retryAfterMs": busyRetry.Milliseconds()}
}

func startHub(t testing.TB, o hubOpts) *hubServer {
	t.Helper()
	if testing.Short() {
		// The cross-architecture runs under qemu-user use -short for the
		// ABI-sensitive tests; these end-to-end runs are native only.
		t.Skip("-short: end-to-end server tests run natively")
	}
	h := &hubServer{t: t, opts: o}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := h.start(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Kill)
	return h
}

func (h *hubServer) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return "http://" + h.addr
}

func (h *hubServer) Server() *socketio.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.srv
}

func (h *hubServer) note() { h.changes.Note() }

// waitFor waits until ok (called with h.mu held) is true.
func (h *hubServer) waitFor(ctx context.Context, what string, ok func() bool) error {
	return h.changes.Wait(ctx, &h.mu, what, ok)
}

type member struct {
	UserID string `json:"userId"`
	Role   string `json:"role"`
	Name   string `json:"name,omitempty"`
}

func (h *hubServer) start(addr string) error {
	ecfg := h.opts.engine
	ecfg.Transports = h.opts.transports
	ecfg.OnUpgrade = func(*engineio.Session) {
		h.mu.Lock()
		h.upgrades++
		h.note()
		h.mu.Unlock()
	}
	var srv *socketio.Server
	cfg := socketio.ServerConfig{
		Engine:   ecfg,
		Recovery: socketio.RecoveryConfig{Disabled: h.opts.noRecovery},
		Logger:   testenv.Logger(),
		Authorize: func(auth json.RawMessage, _ *http.Request) (any, error) {
			var a struct{ Role, Token, Invite, Name string }
			if err := json.Unmarshal(auth, &a); err != nil {
				return nil, errors.New("unauthorized")
			}
			switch {
			case a.Role == "device" && a.Token == "good-token":
				return member{UserID: "dev-1", Role: "device"}, nil
			case a.Role == "device" && a.Token == "expired-token":
				return nil, errors.New("session_expired")
			case a.Role == "device" && a.Token == "busy-token":
				h.mu.Lock()
				h.busyAt = append(h.busyAt, time.Now())
				n := len(h.busyAt)
				h.mu.Unlock()
				if n == 1 {
					return nil, busyError{}
				}
				return member{UserID: "dev-1", Role: "device"}, nil
			case a.Role == "customer" && a.Invite == "good-invite":
				return member{UserID: "cust-" + newTestID(), Role: "customer", Name: a.Name}, nil
			case a.Role == "customer":
				return nil, errors.New("invite_invalid")
			}
			return nil, errors.New("unauthorized")
		},
		OnConnection: func(s *socketio.Socket) {
			if !h.opts.noWelcome && !s.Recovered() {
				_ = srv.To(s.ID()).Emit("welcome", map[string]any{"socketId": s.ID()})
			}
			h.mu.Lock()
			h.conns = append(h.conns, s)
			h.note()
			h.mu.Unlock()
		},
		OnDisconnecting: func(s *socketio.Socket, reason socketio.DisconnectReason) {
			m, _ := s.Data().(member)
			for _, r := range s.Rooms() {
				if r != s.ID() {
					_ = s.To(r).Emit("room:user:left", map[string]any{"roomId": r, "userId": m.UserID, "reason": string(reason)})
				}
			}
		},
		OnDisconnect: func(s *socketio.Socket, reason socketio.DisconnectReason) {
			h.mu.Lock()
			h.discs = append(h.discs, reason)
			h.note()
			h.mu.Unlock()
		},
	}
	var err error
	srv, err = socketio.NewServer(cfg)
	if err != nil {
		return err
	}
	srv.On("session:verify", func(s *socketio.Socket, _ socketio.Args, ack func(...any)) {
		h.mu.Lock()
		expired := h.expired
		h.mu.Unlock()
		if ack == nil {
			return
		}
		if expired {
			ack(map[string]any{"ok": false, "error": "session_expired"})
			_ = s.Emit("session:expired", map[string]any{})
			return
		}
		ack(map[string]any{"ok": true, "deviceId": "dev-1", "roomId": "room-1",
			"expiresAt": time.Now().Add(time.Hour).Format(time.RFC3339), "iceServers": []any{}})
	})
	srv.On("room:join", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		var p struct {
			RoomID string `json:"roomId"`
		}
		_ = args.Decode(0, &p)
		if p.RoomID == "" {
			if ack != nil {
				ack(map[string]any{"ok": false, "error": "bad_request"})
			}
			return
		}
		s.Join(p.RoomID)
		var members []member
		for _, o := range srv.To(p.RoomID).Sockets() {
			m, _ := o.Data().(member)
			members = append(members, m)
		}
		h.mu.Lock()
		h.joins = append(h.joins, s.ID())
		h.note()
		h.mu.Unlock()
		if ack != nil {
			ack(map[string]any{"ok": true, "members": members})
		}
		m, _ := s.Data().(member)
		_ = s.To(p.RoomID).Emit("room:user:joined", map[string]any{"roomId": p.RoomID, "userId": m.UserID, "role": m.Role})
	})
	srv.On("keepalive", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		var p struct {
			T int64 `json:"t"`
		}
		_ = args.Decode(0, &p)
		if ack != nil {
			ack(map[string]any{"ok": true, "t": p.T, "serverTime": time.Now().UnixMilli()})
		}
	})
	srv.On("echo", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		vals, err := args.Values()
		if err == nil && ack != nil {
			ack(vals...)
		}
	})
	srv.On("echo:back", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		vals, _ := args.Values()
		_ = s.Emit("echo", vals...)
		if ack != nil {
			ack(map[string]any{"ok": true})
		}
	})
	srv.On("ask", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		vals, _ := args.Values()
		err := s.EmitWithAckFunc("question", 10*time.Second, func(reply socketio.Args, err error) {
			r := replyRec{id: s.ID(), err: err}
			if err == nil {
				r.args, _ = reply.Values()
			}
			h.mu.Lock()
			h.replies = append(h.replies, r)
			h.note()
			h.mu.Unlock()
			if ack != nil {
				if err != nil {
					ack(map[string]any{"ok": false, "error": "timeout"})
				} else {
					ack(r.args...)
				}
			}
		}, vals...)
		if err != nil && ack != nil {
			ack(map[string]any{"ok": false, "error": err.Error()})
		}
	})
	ln, err := listenRetry(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	go func() { _ = hs.Serve(ln) }()
	h.mu.Lock()
	h.srv, h.hs, h.addr, h.cancel, h.runDone = srv, hs, ln.Addr().String(), cancel, runDone
	h.joins, h.replies, h.conns, h.discs = nil, nil, nil, nil
	h.note()
	h.mu.Unlock()
	return nil
}

// listenRetry listens on addr, retrying briefly while a just-closed
// listener still holds the port.
func listenRetry(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server: every connection is closed, nothing listens.
// Idempotent.
func (h *hubServer) Kill() {
	h.mu.Lock()
	hs, cancel, runDone := h.hs, h.cancel, h.runDone
	h.hs, h.cancel, h.runDone = nil, nil, nil
	h.mu.Unlock()
	if hs == nil {
		return
	}
	_ = hs.Close() // listener and polling requests
	cancel()       // Run closes every session
	select {
	case <-runDone:
	case <-time.After(10 * time.Second):
		h.t.Error("socketio.Server.Run did not return within 10 s")
	}
}

// Restart starts a fresh server on the same port.
func (h *hubServer) Restart() {
	h.t.Helper()
	h.Kill()
	if err := h.start(h.addr); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hubServer) waitJoins(ctx context.Context, n int) error {
	return h.waitFor(ctx, fmt.Sprintf("%d joins", n), func() bool { return len(h.joins) >= n })
}

func (h *hubServer) waitConns(ctx context.Context, n int) ([]*socketio.Socket, error) {
	var out []*socketio.Socket
	err := h.waitFor(ctx, fmt.Sprintf("%d connections", n), func() bool {
		out = append([]*socketio.Socket(nil), h.conns...)
		return len(h.conns) >= n
	})
	return out, err
}

func newTestID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

func TestServerGoClientWebSocketAcksBinary(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	c := start(t, hub.URL(), opts{persistent: true, join: true})
	e := c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	if e.Transport != "websocket" {
		t.Fatalf("connected over %q", e.Transport)
	}
	c.waitJoins(t, 1)
	ctx := bounded(t, 10*time.Second)
	blob := []byte{0, 1, 2, 254, 255}
	args, err := c.EmitWithAck(ctx, "echo", "hello", 42, blob, map[string]any{"nested": blob})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	var n int
	var b []byte
	if args.Decode(0, &s) != nil || s != "hello" || args.Decode(1, &n) != nil || n != 42 {
		t.Fatalf("echo args %s", args.Raw(0))
	}
	if err := args.Decode(2, &b); err != nil || !bytes.Equal(b, blob) {
		t.Fatalf("binary echo %v %v", b, err)
	}
	v, err := args.Value(3)
	if err != nil || !bytes.Equal(v.(map[string]any)["nested"].([]byte), blob) {
		t.Fatalf("nested binary %v %v", v, err)
	}
	// Server → client event with binary.
	got := make(chan []byte, 1)
	c.On("echo", func(a socketio.Args, _ func(...any)) {
		var b []byte
		if a.Decode(0, &b) == nil {
			got <- b
		}
	})
	if err := c.Emit(ctx, "echo:back", blob); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, blob) {
			t.Fatalf("server event binary %v", b)
		}
	case <-ctx.Done():
		t.Fatal("no echo from server")
	}
	// Server → client ack, answered with binary.
	c.On("question", func(a socketio.Args, ack func(...any)) { ack("answer", blob) })
	args, err = c.EmitWithAck(ctx, "ask", "why?")
	if err != nil {
		t.Fatal(err)
	}
	if args.Decode(0, &s) != nil || s != "answer" || args.Decode(1, &b) != nil || !bytes.Equal(b, blob) {
		t.Fatalf("ask reply %s", args.Raw(0))
	}
	socks := hub.Server().Sockets()
	if len(socks) != 1 || socks[0].Transport() != "websocket" || socks[0].ID() != c.Status().SID {
		t.Fatalf("server sockets %v", socks)
	}
	if !socks[0].In("room-1") {
		t.Fatalf("rooms %v", socks[0].Rooms())
	}
}

func TestServerGoClientPollingOnly(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{transports: []string{"polling"}})
	c := start(t, hub.URL(), opts{persistent: true, join: true}) // websocket refused → polling
	e := c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	if e.Transport != "polling" {
		t.Fatalf("connected over %q", e.Transport)
	}
	c.waitJoins(t, 1)
	ctx := bounded(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args, err := c.EmitWithAck(ctx, "echo", i, []byte{byte(i)})
			if err == nil {
				var b []byte
				if err = args.Decode(1, &b); err == nil && (len(b) != 1 || b[0] != byte(i)) {
					err = errors.New("wrong binary echo")
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Server → client ack over polling.
	c.On("question", func(a socketio.Args, ack func(...any)) { ack("polled") })
	args, err := c.EmitWithAck(ctx, "ask", 1)
	var s string
	if err != nil || args.Decode(0, &s) != nil || s != "polled" {
		t.Fatalf("ask over polling: %v %q", err, s)
	}
}

func TestServerGoClientUpgrade(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	c := start(t, hub.URL(), opts{transports: []string{"polling", "websocket"}, join: true, persistent: true})
	c.rec.wait(t, socketio.EventConnect, 10*time.Second) // the upgrade may come first
	ctx := bounded(t, 10*time.Second)
	if err := hub.waitFor(ctx, "upgrade", func() bool { return hub.upgrades == 1 }); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil && c.Status().Transport != "websocket" {
		time.Sleep(10 * time.Millisecond)
	}
	if st := hub.Server().Engine().Stats(); st.WebSocket != 1 || st.Polling != 0 {
		t.Fatalf("server stats after upgrade %+v", st)
	}
	args, err := c.EmitWithAck(ctx, "echo", []byte("after upgrade"))
	var b []byte
	if err != nil || args.Decode(0, &b) != nil || string(b) != "after upgrade" {
		t.Fatalf("echo after upgrade: %v %q", err, b)
	}
	c.waitJoins(t, 1)
}

func TestServerGoClientRecovery(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	c := start(t, hub.URL(), opts{join: true, persistent: true})
	ctx := bounded(t, 20*time.Second)
	if err := hub.waitJoins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	welcomed := make(chan string, 8)
	c.On("welcome", func(a socketio.Args, _ func(...any)) {
		var s string
		_ = a.Decode(0, &s)
		welcomed <- s
	})
	if err := hub.Server().To("room-1").Emit("welcome", "again"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-welcomed:
	case <-ctx.Done():
		t.Fatal("no broadcast received")
	}
	sid := c.Status().SID
	socks := hub.Server().Sockets()
	if len(socks) != 1 {
		t.Fatalf("%d sockets", len(socks))
	}
	socks[0].CloseTransport()
	// A broadcast while the client is away is replayed after recovery.
	if err := hub.Server().To("room-1").Emit("welcome", "missed"); err != nil {
		t.Fatal(err)
	}
	e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second)
	if !e.Recovered {
		t.Fatal("session not recovered")
	}
	if st := c.Status(); st.SID != sid || !st.Recovered {
		t.Fatalf("sid %q → %q recovered=%v", sid, st.SID, st.Recovered)
	}
	for {
		select {
		case s := <-welcomed:
			if s != "missed" {
				continue
			}
		case <-ctx.Done():
			t.Fatal("missed broadcast not replayed")
		}
		break
	}
	if c.joins.Load() != 1 {
		t.Fatalf("hook ran again on a recovered session (%d joins)", c.joins.Load())
	}
	socks = hub.Server().Sockets()
	if len(socks) != 1 || socks[0].ID() != sid || !socks[0].Recovered() || !socks[0].In("room-1") {
		t.Fatalf("server side after recovery: %v", socks)
	}
	if m, _ := socks[0].Data().(member); m.UserID != "dev-1" {
		t.Fatalf("data not restored: %+v", socks[0].Data())
	}
}

// A socket told to ForgetOnLeave is not recovered: its client comes back
// as a new session and runs its connect-time work again.
func TestServerForgetOnLeave(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	c := start(t, hub.URL(), opts{join: true, persistent: true})
	c.waitJoins(t, 1)
	sid := c.Status().SID
	socks := hub.Server().Sockets()
	if len(socks) != 1 {
		t.Fatalf("%d sockets", len(socks))
	}
	socks[0].ForgetOnLeave()
	socks[0].CloseTransport()
	e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second)
	if e.Recovered {
		t.Fatal("a forgotten session was recovered")
	}
	c.waitJoins(t, 2)
	if st := c.Status(); st.SID == sid || st.Recovered {
		t.Fatalf("sid %q → %q recovered=%v", sid, st.SID, st.Recovered)
	}
}

func TestServerGoClientRestartRejoins(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	c := start(t, hub.URL(), opts{join: true, persistent: true})
	ctx := bounded(t, 40*time.Second)
	c.waitJoins(t, 1)
	for i := range 2 {
		hub.Kill()
		c.rec.wait(t, socketio.EventDisconnect, 10*time.Second)
		hub.Restart()
		e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second)
		if e.Recovered {
			t.Fatal("a restarted server cannot recover the session")
		}
		if err := hub.waitJoins(ctx, 1); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		// The hook completes (its ack arrived) before the next kill.
		c.waitJoins(t, int32(i+2))
	}
}

func TestServerGoClientConnectErrors(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	t.Run("unauthorized", func(t *testing.T) {
		c := start(t, hub.URL(), opts{token: "bad", persistent: true})
		e := c.rec.wait(t, socketio.EventConnectError, 10*time.Second)
		if !errors.Is(e.Err, socketio.ErrConnectRefused) || !bytes.Contains([]byte(e.Err.Error()), []byte("unauthorized")) {
			t.Fatalf("connect_error %v", e.Err)
		}
	})
	t.Run("session_expired", func(t *testing.T) {
		c := start(t, hub.URL(), opts{token: "expired-token", persistent: true})
		ctx := bounded(t, 10*time.Second)
		for ctx.Err() == nil && c.Status().State != socketio.SessionExpired {
			time.Sleep(10 * time.Millisecond)
		}
		if st := c.Status(); st.State != socketio.SessionExpired {
			t.Fatalf("state %v", st)
		}
	})
	t.Run("server disconnect", func(t *testing.T) {
		c := start(t, hub.URL(), opts{join: true, persistent: true})
		ctx := bounded(t, 10*time.Second)
		c.rec.wait(t, socketio.EventConnect, 10*time.Second)
		c.waitJoins(t, 1)
		s := hub.Server().Socket(c.Status().SID)
		if s == nil {
			t.Fatal("socket not found")
		}
		s.Disconnect(true)
		e := c.rec.wait(t, socketio.EventDisconnect, 10*time.Second)
		if !errors.Is(e.Err, socketio.ErrServerDisconnect) {
			t.Fatalf("disconnect %v", e.Err)
		}
		e = c.rec.wait(t, socketio.EventReconnect, 10*time.Second)
		if e.Recovered {
			t.Fatal("server namespace disconnect must not be recovered")
		}
		_ = ctx
	})
}

// A CONNECT_ERROR with data.retryAfterMs (docs/protocol.md §10, the hub's
// busy) holds the next attempt back at least that long, though the
// client's own backoff is 10 ms: a refused fleet comes back when the
// server asked.
func TestServerGoClientRetryAfter(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	c := startWith(t, hub.URL(), opts{token: "busy-token", persistent: true}, func(cfg *socketio.Config) {
		cfg.ReconnectionDelay, cfg.ReconnectionDelayMax = 10*time.Millisecond, 20*time.Millisecond
	})
	e := c.rec.wait(t, socketio.EventConnectError, 10*time.Second)
	var ra *socketio.RetryAfterError
	if !errors.As(e.Err, &ra) || ra.Delay != busyRetry || !errors.Is(e.Err, socketio.ErrConnectRefused) {
		t.Fatalf("connect_error %v", e.Err)
	}
	c.rec.wait(t, socketio.EventConnect, 20*time.Second)
	hub.mu.Lock()
	at := slices.Clone(hub.busyAt)
	hub.mu.Unlock()
	if len(at) != 2 || at[1].Sub(at[0]) < busyRetry {
		t.Fatalf("CONNECTs at %v: the retry came before the %v the server asked for", at, busyRetry)
	}
}

func TestServerAcksTimeoutAndLeave(t *testing.T) {
	noLeaks(t)
	var opened, closed atomic.Int32
	hub := startHub(t, hubOpts{engine: engineio.ServerConfig{
		OnOpen:  func(*engineio.Session) { opened.Add(1) },
		OnClose: func(*engineio.Session, engineio.CloseReason) { closed.Add(1) },
	}})
	c := start(t, hub.URL(), opts{persistent: true})
	c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	c.On("answered", func(a socketio.Args, ack func(...any)) { ack("yes", []byte{1}) })
	ctx := bounded(t, 10*time.Second)
	s := hub.Server().Socket(c.Status().SID)
	if s == nil {
		t.Fatal("no socket")
	}
	// Blocking form, from outside any handler: binary in the answer.
	args, err := s.EmitWithAck(ctx, "answered", 1)
	var yes string
	var bin []byte
	if err != nil || args.Decode(0, &yes) != nil || yes != "yes" || args.Decode(1, &bin) != nil || len(bin) != 1 {
		t.Fatalf("ack %v %q %v", err, yes, bin)
	}
	// Nobody answers "ignored": the timeout fires.
	res := make(chan error, 2)
	if err := s.EmitWithAckFunc("ignored", 100*time.Millisecond, func(_ socketio.Args, err error) { res <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, socketio.ErrAckTimeout) {
		t.Fatalf("want ack timeout, got %v", err)
	}
	// Pending acks fail at once when the socket leaves.
	if err := s.EmitWithAckFunc("ignored", time.Hour, func(_ socketio.Args, err error) { res <- err }); err != nil {
		t.Fatal(err)
	}
	s.Disconnect(true)
	if err := <-res; !errors.Is(err, socketio.ErrNotConnected) {
		t.Fatalf("want not connected, got %v", err)
	}
	if err := s.Emit("late"); !errors.Is(err, socketio.ErrNotConnected) {
		t.Fatalf("emit after leave: %v", err)
	}
	c.rec.wait(t, socketio.EventReconnect, 10*time.Second)
	if opened.Load() < 2 || closed.Load() < 1 {
		t.Fatalf("engine hooks: opened %d closed %d", opened.Load(), closed.Load())
	}
}

func TestServerConnectTimeoutAndRecoveryWindow(t *testing.T) {
	noLeaks(t)
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	srv, err := socketio.NewServer(socketio.ServerConfig{Clock: clk, Logger: testenv.Logger(), ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
	}()
	get := func(q string) string {
		resp, err := hs.Client().Get(hs.URL + "/socket.io/?EIO=4&transport=polling" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(sid, body string) {
		resp, err := hs.Client().Post(hs.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	open := get("")
	hsk, err := engineio.ParseHandshake([]byte(open[1:]))
	if err != nil {
		t.Fatal(err)
	}
	// Only "/" exists: another namespace is refused as socket.io does.
	post(hsk.SID, "40/admin,")
	if got := get("&sid=" + hsk.SID); got != `44/admin,{"message":"Invalid namespace"}` {
		t.Fatalf("CONNECT to /admin: %q", got)
	}
	// No CONNECT in time: socket.io's connectTimeout closes the session.
	clk.Advance(10 * time.Second)
	if got := get("&sid=" + hsk.SID); got != "1" {
		t.Fatalf("after the connect timeout: %q, want a close packet", got)
	}

	// Recovery: a session lost for a recoverable reason is kept for the
	// window and no longer.
	connect := func(auth string) (sid, id, pid string) {
		h, _ := engineio.ParseHandshake([]byte(get("")[1:]))
		post(h.SID, "40"+auth)
		reply := get("&sid=" + h.SID)
		var d struct{ SID, PID string }
		if !strings.HasPrefix(reply, "40") || json.Unmarshal([]byte(strings.SplitN(reply[2:], "\x1e", 2)[0]), &d) != nil {
			t.Fatalf("connect reply %q", reply)
		}
		return h.SID, d.SID, d.PID
	}
	esid, id, pid := connect("")
	if err := srv.To(id).Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	s := srv.Socket(id)
	ev := get("&sid=" + esid)
	var arr []any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "42")), &arr); err != nil || len(arr) != 3 {
		t.Fatalf("broadcast %q", ev)
	}
	offset := arr[2].(string)
	s.CloseTransport()
	auth, _ := json.Marshal(map[string]string{"pid": pid, "offset": offset})
	_, id2, pid2 := connect(string(auth))
	if id2 != id || pid2 != pid || !srv.Socket(id).Recovered() {
		t.Fatalf("not recovered: %s/%s → %s/%s", id, pid, id2, pid2)
	}
	srv.Socket(id).CloseTransport()
	clk.Advance(2*time.Minute + time.Second)
	_, id3, _ := connect(string(auth))
	if id3 == id {
		t.Fatal("recovered after the window")
	}
}
