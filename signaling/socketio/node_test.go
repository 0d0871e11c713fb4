package socketio_test

// Interop tests against the official Node socket.io 4.8 server, started by
// the tests themselves through package siotest (loopback only).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling/engineio"
	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

// recorder keeps manager events and statuses for assertions.
type recorder struct {
	mu     sync.Mutex
	events []socketio.ManagerEvent
	states []socketio.State
	ch     chan socketio.ManagerEvent
}

func newRecorder() *recorder { return &recorder{ch: make(chan socketio.ManagerEvent, 1024)} }

func (r *recorder) onEvent(e socketio.ManagerEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.ch <- e:
	default:
	}
}

func (r *recorder) onStatus(s socketio.Status) {
	r.mu.Lock()
	if n := len(r.states); n == 0 || r.states[n-1] != s.State {
		r.states = append(r.states, s.State)
	}
	r.mu.Unlock()
}

func (r *recorder) count(k socketio.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// wait returns the next event of kind k.
func (r *recorder) wait(t *testing.T, k socketio.EventKind, d time.Duration) socketio.ManagerEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e := <-r.ch:
			if e.Kind == k {
				return e
			}
		case <-timer.C:
			t.Fatalf("no %v event within %v", k, d)
		}
	}
}

type testClient struct {
	*socketio.Client
	rec    *recorder
	joins  atomic.Int32
	cancel context.CancelFunc
	done   chan error

	tokenMu sync.Mutex
	token   string
}

// setToken changes what Auth and the connect hook present from now on.
func (tc *testClient) setToken(tok string) {
	tc.tokenMu.Lock()
	tc.token = tok
	tc.tokenMu.Unlock()
}

func (tc *testClient) getToken() string {
	tc.tokenMu.Lock()
	defer tc.tokenMu.Unlock()
	return tc.token
}

type opts struct {
	token      string
	transports []string
	join       bool // the connect hook joins room-1
	persistent bool
	engine     engineio.Config
	probe      time.Duration
}

func start(t *testing.T, url string, o opts) *testClient {
	t.Helper()
	return startWith(t, url, o, nil)
}

// startWith is start with a last change to the client's configuration.
func startWith(t *testing.T, url string, o opts, tweak func(*socketio.Config)) *testClient {
	t.Helper()
	tc := &testClient{rec: newRecorder(), done: make(chan error, 1), token: o.token}
	if tc.token == "" {
		tc.token = "good-token"
	}
	cfg := socketio.Config{
		Engine:     o.engine,
		Transports: o.transports,
		Persistent: o.persistent,
		Auth: func() map[string]any {
			return map[string]any{"role": "device", "token": tc.getToken()}
		},
		OnEvent:       tc.rec.onEvent,
		OnStatus:      tc.rec.onStatus,
		ProbeInterval: o.probe,
		Logger:        testenv.Logger(),
	}
	cfg.Engine.URL = url
	if o.join {
		cfg.OnConnect = func(ctx context.Context, recovered bool) error {
			args, err := tc.EmitWithAck(ctx, "session:verify", map[string]any{"token": tc.getToken()})
			if err != nil {
				return err
			}
			v := struct{ RoomID string }{RoomID: "room-1"}
			if err := args.Decode(0, &v); err != nil {
				return err
			}
			args, err = tc.EmitWithAck(ctx, "room:join", map[string]any{"roomId": v.RoomID})
			if err != nil {
				return err
			}
			var r struct{ OK bool }
			if err := args.Decode(0, &r); err != nil || !r.OK {
				return errors.New("join refused")
			}
			tc.joins.Add(1)
			return nil
		}
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := socketio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc.Client = c
	ctx, cancel := context.WithCancel(context.Background())
	tc.cancel = cancel
	go func() { tc.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-tc.done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Errorf("Run did not return within 10 s of cancel:\n%s", buf[:runtime.Stack(buf, true)])
		}
	})
	return tc
}

// waitJoins waits until the connect hook has joined n times in all.
func (tc *testClient) waitJoins(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tc.joins.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := tc.joins.Load(); got != n {
		t.Fatalf("hook joins %d, want %d", got, n)
	}
}

func bounded(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNodeWebSocketAuthAcksBinary(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	c := start(t, srv.URL(), opts{persistent: true})
	e := c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	if e.Transport != "websocket" {
		t.Fatalf("connected over %q, want websocket first", e.Transport)
	}
	ctx := bounded(t, 10*time.Second)

	// Client → server with ack, text and binary both ways.
	blob := []byte{0, 1, 2, 254, 255}
	args, err := c.EmitWithAck(ctx, "echo", "hello", 42, blob, map[string]any{"nested": blob})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	var n int
	var b []byte
	if err := args.Decode(0, &s); err != nil || s != "hello" {
		t.Fatalf("arg0 %q %v", s, err)
	}
	if err := args.Decode(1, &n); err != nil || n != 42 {
		t.Fatalf("arg1 %d %v", n, err)
	}
	if err := args.Decode(2, &b); err != nil || !bytes.Equal(b, blob) {
		t.Fatalf("binary arg %v %v", b, err)
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
		t.Fatal("no echo event from server")
	}

	// Server → client event with ack; the client answers with binary.
	c.On("question", func(a socketio.Args, ack func(...any)) { ack("answer", blob) })
	if err := c.Emit(ctx, "ask", "why?"); err != nil {
		t.Fatal(err)
	}
	var replies []siotest.Reply
	for ctx.Err() == nil {
		if replies, err = srv.Replies(); err == nil && len(replies) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(replies) == 0 {
		t.Fatal("server recorded no ack reply")
	}
	raw, _ := json.Marshal(replies[0])
	if !bytes.Contains(raw, []byte("answer")) {
		t.Fatalf("reply %s lacks the answer", raw)
	}

	// The server saw our auth payload over websocket.
	socks, err := srv.Sockets()
	if err != nil || len(socks) != 1 || socks[0].Transport != "websocket" || socks[0].Auth["token"] != "good-token" {
		t.Fatalf("server sockets %+v %v", socks, err)
	}
	if st := c.Status(); st.State != socketio.Connected || st.Transport != "websocket" || st.SID != socks[0].ID {
		t.Fatalf("status %+v", st)
	}
}

func TestNodePollingOnly(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{Transports: []string{"polling"}})
	c := start(t, srv.URL(), opts{transports: []string{"polling"}, persistent: true})
	c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	ctx := bounded(t, 10*time.Second)
	// Many emits at once: the writer batches them into few POSTs while the
	// long-poll GET stays pending; acks arrive promptly, not after a poll.
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
	if st := c.Status(); st.Transport != "polling" {
		t.Fatalf("transport %q", st.Transport)
	}
}

func TestNodeWebSocketRefusedFallsBackToPolling(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{Transports: []string{"polling"}})
	c := start(t, srv.URL(), opts{join: true, persistent: true}) // default order: websocket, polling
	e := c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	if e.Transport != "polling" {
		t.Fatalf("connected over %q, want polling after websocket was refused", e.Transport)
	}
	if n := c.rec.count(socketio.EventConnectError); n != 0 {
		t.Fatalf("%d connect errors: the fallback must happen within the same attempt", n)
	}
	// After a server restart the remembered transport is tried first.
	srv.Kill()
	srv.Restart()
	e = c.rec.wait(t, socketio.EventReconnect, 20*time.Second)
	if e.Transport != "polling" {
		t.Fatalf("reconnected over %q", e.Transport)
	}
}

func TestNodePollingUpgradesToWebSocket(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	c := start(t, srv.URL(), opts{transports: []string{"polling", "websocket"}, join: true, persistent: true})
	e := c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	if e.Transport != "polling" {
		t.Fatalf("first transport %q", e.Transport)
	}
	ctx := bounded(t, 10*time.Second)
	socks, err := srv.WaitSockets(ctx, func(s []siotest.SocketInfo) bool { return len(s) == 1 && s[0].Transport == "websocket" })
	if err != nil {
		t.Fatalf("server never saw the upgrade: %v %+v", err, socks)
	}
	for ctx.Err() == nil && c.Status().Transport != "websocket" {
		time.Sleep(10 * time.Millisecond)
	}
	// Traffic flows over the upgraded session, with binary.
	args, err := c.EmitWithAck(ctx, "echo", []byte("after upgrade"))
	var b []byte
	if err != nil || args.Decode(0, &b) != nil || string(b) != "after upgrade" {
		t.Fatalf("echo after upgrade: %v %q", err, b)
	}
	if c.joins.Load() != 1 {
		t.Fatalf("joins %d, want 1 (an upgrade is not a reconnect)", c.joins.Load())
	}
}

func TestNodeKillRestartRejoins(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	c := start(t, srv.URL(), opts{join: true, persistent: true})
	ctx := bounded(t, 30*time.Second)
	if _, err := srv.WaitJoins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		srv.Kill()
		c.rec.wait(t, socketio.EventDisconnect, 10*time.Second)
		srv.Restart()
		e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second)
		if e.Recovered {
			t.Fatal("a restarted server cannot recover the session")
		}
		// The fresh server has no record of the first join: the hook
		// joined again.
		if _, err := srv.WaitJoins(ctx, 1); err != nil {
			t.Fatalf("restart %d: no room:join after reconnect: %v", i, err)
		}
	}
	c.waitJoins(t, 3)
	if st := c.Status(); st.Reconnects != 2 || st.Drops != 2 {
		t.Fatalf("counters %+v", st)
	}
}

func TestNodeRecoveryKeepsSession(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{Recovery: true, Welcome: true})
	c := start(t, srv.URL(), opts{join: true, persistent: true})
	ctx := bounded(t, 20*time.Second)
	if _, err := srv.WaitJoins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Wait for the welcome broadcast, which carries our first offset.
	welcomed := make(chan struct{}, 1)
	c.On("welcome", func(socketio.Args, func(...any)) {
		select {
		case welcomed <- struct{}{}:
		default:
		}
	})
	if err := srv.Emit("welcome", "again"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-welcomed:
	case <-ctx.Done():
		t.Fatal("no broadcast received")
	}
	sid := c.Status().SID
	if n, err := srv.CloseTransports(true); err != nil || n != 1 {
		t.Fatalf("closeTransports %d %v", n, err)
	}
	e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second)
	if !e.Recovered {
		t.Fatal("session not recovered")
	}
	if st := c.Status(); st.SID != sid || !st.Recovered {
		t.Fatalf("sid %q → %q recovered=%v", sid, st.SID, st.Recovered)
	}
	if c.joins.Load() != 1 {
		t.Fatalf("the hook ran again on a recovered session (%d joins)", c.joins.Load())
	}
	// Still in the room after recovery.
	socks, _ := srv.Sockets()
	if len(socks) != 1 || !contains(socks[0].Rooms, "room-1") {
		t.Fatalf("rooms after recovery %+v", socks)
	}
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func TestNodeServerDisconnect(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	t.Run("persistent reconnects", func(t *testing.T) {
		c := start(t, srv.URL(), opts{join: true, persistent: true})
		c.waitJoins(t, 1)
		if _, err := srv.DisconnectAll(); err != nil {
			t.Fatal(err)
		}
		e := c.rec.wait(t, socketio.EventDisconnect, 10*time.Second)
		if !errors.Is(e.Err, socketio.ErrServerDisconnect) {
			t.Fatalf("disconnect reason %v", e.Err)
		}
		c.rec.wait(t, socketio.EventReconnect, 10*time.Second)
		c.waitJoins(t, 2)
		c.cancel()
		<-c.done
		c.done <- nil
	})
	t.Run("javascript semantics stop", func(t *testing.T) {
		c := start(t, srv.URL(), opts{})
		c.rec.wait(t, socketio.EventConnect, 10*time.Second)
		if _, err := srv.DisconnectAll(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-c.done:
			c.done <- err
			if !errors.Is(err, socketio.ErrServerDisconnect) {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("non-persistent client kept running after io server disconnect")
		}
	})
}

func TestNodeConnectErrors(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	t.Run("unauthorized keeps retrying", func(t *testing.T) {
		c := start(t, srv.URL(), opts{token: "bad", persistent: true})
		c.rec.wait(t, socketio.EventConnectError, 10*time.Second)
		e := c.rec.wait(t, socketio.EventReconnectError, 10*time.Second)
		if !errors.Is(e.Err, socketio.ErrConnectRefused) {
			t.Fatalf("reconnect_error %v", e.Err)
		}
		if st := c.Status(); st.State == socketio.SessionExpired || st.Attempts == 0 {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("session_expired stops until resume", func(t *testing.T) {
		var tok atomic.Value
		tok.Store("expired-token")
		c := start(t, srv.URL(), opts{token: "expired-token", persistent: true})
		ctx := bounded(t, 15*time.Second)
		for ctx.Err() == nil && c.Status().State != socketio.SessionExpired {
			time.Sleep(10 * time.Millisecond)
		}
		st := c.Status()
		if st.State != socketio.SessionExpired {
			t.Fatalf("state %v", st.State)
		}
		// It stays put: no attempts while expired.
		attempts := st.Attempts
		time.Sleep(1500 * time.Millisecond)
		if st := c.Status(); st.State != socketio.SessionExpired || st.Attempts != attempts {
			t.Fatalf("retried while expired: %+v", st)
		}
	})
	t.Run("session:expired event and resume", func(t *testing.T) {
		defer srv.Reset()
		c := start(t, srv.URL(), opts{join: true, persistent: true})
		c.rec.wait(t, socketio.EventConnect, 10*time.Second)
		// The server now refuses verify with session_expired and emits
		// session:expired.
		c.On("session:expired", func(socketio.Args, func(...any)) { c.ExpireSession() })
		if err := srv.Expire(false, true); err != nil {
			t.Fatal(err)
		}
		ctx := bounded(t, 10*time.Second)
		for ctx.Err() == nil && c.Status().State != socketio.SessionExpired {
			time.Sleep(10 * time.Millisecond)
		}
		if c.Status().State != socketio.SessionExpired {
			t.Fatal("not expired")
		}
		// A new login: the server accepts again and Resume reconnects at once.
		if err := srv.Reset(); err != nil {
			t.Fatal(err)
		}
		c.Resume()
		c.rec.wait(t, socketio.EventConnect, 10*time.Second)
		c.waitJoins(t, 2)
	})
}

func TestNodePingTimeoutDetected(t *testing.T) {
	const pi, pt = time.Second, time.Second
	srv := siotest.StartServer(t, siotest.ServerOptions{PingInterval: pi, PingTimeout: pt})
	c := start(t, srv.URL(), opts{persistent: true})
	c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	srv.Stop()
	defer srv.Cont()
	stopped := time.Now()
	e := c.rec.wait(t, socketio.EventDisconnect, 3*(pi+pt))
	took := time.Since(stopped)
	if !errors.Is(e.Err, engineio.ErrPingTimeout) {
		t.Fatalf("disconnect reason %v", e.Err)
	}
	// The watchdog fires pingInterval+pingTimeout after the last ping,
	// which came at most pingInterval before the stop; plus its 1 s wall
	// clock tick.
	if took > pi+pt+time.Second+500*time.Millisecond {
		t.Fatalf("detected after %v", took)
	}
	t.Logf("dead server detected after %v (pingInterval+pingTimeout = %v)", took, pi+pt)
}

func TestNodeTarpitAndGarbage(t *testing.T) {
	t.Run("tarpit", func(t *testing.T) {
		addr := siotest.Tarpit(t)
		c := start(t, "http://"+addr, opts{persistent: true, engine: engineio.Config{HandshakeTimeout: 500 * time.Millisecond}})
		start := time.Now()
		e := c.rec.wait(t, socketio.EventConnectError, 5*time.Second)
		t.Logf("tarpit given up after %v: %v", time.Since(start), e.Err)
		if !errors.Is(e.Err, context.DeadlineExceeded) {
			t.Fatalf("error %v", e.Err)
		}
		c.rec.wait(t, socketio.EventReconnectAttempt, 5*time.Second)
	})
	cases := map[string][][]byte{
		"not engineio":   {[]byte("hello world")},
		"bad open":       {[]byte(`0{"sid":`)},
		"open then junk": {[]byte(`0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`), []byte("4" + `2["unterminated`)},
		"oversize":       {[]byte(`0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`), append([]byte("40"), bytes.Repeat([]byte("x"), 2_000_000)...)},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			url := siotest.GarbageWSServer(t, frames)
			c := start(t, url, opts{persistent: true, transports: []string{"websocket"}})
			e := c.rec.wait(t, socketio.EventConnectError, 10*time.Second)
			t.Logf("%s: %v", name, e.Err)
			if !errors.Is(e.Err, engineio.ErrHandshake) && !errors.Is(e.Err, engineio.ErrMalformed) &&
				!errors.Is(e.Err, socketio.ErrMalformed) && !errors.Is(e.Err, engineio.ErrTooLarge) {
				t.Fatalf("unclear error %v", e.Err)
			}
			// And it keeps trying, unharmed.
			c.rec.wait(t, socketio.EventReconnectAttempt, 5*time.Second)
		})
	}
}
