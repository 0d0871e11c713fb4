package hub_test

// Integration tests: a real hub on loopback, signaling.Device as the
// counter, our Go Socket.IO client and the official socket.io-client
// (siotest) as customers.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/login"
	"tether/internal/testenv"
	"tether/internal/testenv/testhub"
	"tether/signaling"
	"tether/signaling/engineio"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

const wait = 10 * time.Second

type env struct {
	t     testing.TB
	h     *hub.Hub
	store *auth.Store
	clk   *clockwork.FakeClock // the store's clock (sessions, invites)
	path  string
	stop  func()
}

// startHub runs a hub on loopback over a store at path (a new temp file
// when empty) with counters c1 (room r1) and c2 (room r2).
func startHub(t testing.TB, path string, mut func(*hub.Config)) *env {
	t.Helper()
	fresh := path == ""
	if fresh {
		path = filepath.Join(t.TempDir(), "hub.db")
	}
	clk := clockwork.NewFakeClockAt(time.Now())
	st, err := auth.Open(auth.Config{Path: path, KDF: testenv.KDF, Clock: clk, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if fresh {
		for _, a := range [][2]string{{"c1", "r1"}, {"c2", "r2"}} {
			if _, err := st.AddAccount(a[0], "password-"+a[0], auth.RoleCounter, a[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := hub.Config{Store: st}
	if mut != nil {
		mut(&cfg)
	}
	return runHub(t, cfg, st, clk, path)
}

// runHub builds and runs a hub over st until the test ends.
func runHub(t testing.TB, cfg hub.Config, st *auth.Store, clk *clockwork.FakeClock, path string) *env {
	t.Helper()
	h := testhub.Start(t, cfg)
	e := &env{t: t, h: h.Hub, store: st, clk: clk, path: path}
	var once sync.Once
	e.stop = func() { once.Do(func() { h.Stop(); st.Close() }) }
	t.Cleanup(e.stop)
	return e
}

func (e *env) login(user, pw string) (int, map[string]any, http.Header) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := http.Post(e.h.URL()+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatalf("login answer %q: %v", raw, err)
	}
	return resp.StatusCode, m, resp.Header
}

func (e *env) token(user string) string {
	e.t.Helper()
	code, m, _ := e.login(user, "password-"+user)
	if code != 200 {
		e.t.Fatalf("login %s: %d %v", user, code, m)
	}
	return m["token"].(string)
}

func (e *env) invite(room string, ttl time.Duration) string {
	e.t.Helper()
	inv, err := e.store.NewInvite(room, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv.Code
}

// events collects what a peer receives, as "name detail" strings.
type events struct {
	ch chan string
}

func newEvents() *events { return &events{ch: make(chan string, 256)} }

func (ev *events) add(s string) {
	select {
	case ev.ch <- s:
	default:
	}
}

// next returns the next event; it fails the test after the timeout.
func (ev *events) next(t testing.TB) string { return ev.nextWithin(t, wait) }

// expect skips events until one starts with prefix.
func (ev *events) expect(t testing.TB, prefix string) string { return ev.expectWithin(t, prefix, wait) }

func (ev *events) nextWithin(t testing.TB, d time.Duration) string {
	t.Helper()
	select {
	case s := <-ev.ch:
		return s
	case <-time.After(d):
		t.Fatal("no event within", d)
	}
	return ""
}

func (ev *events) expectWithin(t testing.TB, prefix string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case s := <-ev.ch:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-deadline:
			t.Fatalf("no %q within %v", prefix, d)
		}
	}
}

type device struct {
	*signaling.Device
	ev     *events
	cancel context.CancelFunc
	drops  atomic.Int32 // socket disconnects seen by the device

	vmu      sync.Mutex
	verified signaling.VerifyReply // the last session:verify answer
}

// Verified is the last session:verify answer the device received.
func (d *device) Verified() signaling.VerifyReply {
	d.vmu.Lock()
	defer d.vmu.Unlock()
	return d.verified
}

func (e *env) device(token string) *device {
	e.t.Helper()
	ev := newEvents()
	dv := &device{ev: ev}
	var mu sync.Mutex
	tok := token
	d, err := signaling.NewDevice(signaling.DeviceConfig{
		HubURL: e.h.URL(),
		Token:  func() string { mu.Lock(); defer mu.Unlock(); return tok },
		Handlers: signaling.Handlers{
			Verified: func(v signaling.VerifyReply) { dv.vmu.Lock(); dv.verified = v; dv.vmu.Unlock() },
			Joined: func(j signaling.JoinReply) {
				var ids []string
				for _, m := range j.Members {
					ids = append(ids, m.Role+":"+m.UserID)
				}
				ev.add("joined " + strings.Join(ids, ","))
			},
			UserJoined:    func(r signaling.RoomEvent) { ev.add("user:joined " + r.UserID) },
			UserLeft:      func(r signaling.RoomEvent) { ev.add("user:left " + r.UserID + " " + r.Reason) },
			CallEnded:     func(r signaling.RoomEvent) { ev.add("call:ended " + r.UserID + " " + r.Reason) },
			Signal:        func(s signaling.Signal) { ev.add("signal " + s.From + " " + sigKind(s)) },
			SessionExpire: func() { ev.add("session:expired") },
		},
		OnSocketEvent: func(me socketio.ManagerEvent) {
			if me.Kind == socketio.EventConnectError {
				ev.add(fmt.Sprint("connect_error ", me.Err))
			}
			if me.Kind == socketio.EventDisconnect {
				dv.drops.Add(1)
			}
		},
		Status: func() any { return map[string]any{"rttMs": 3, "uptimeS": 1, "version": "test"} },
		Logger: testenv.Logger(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			e.t.Error("device did not stop")
		}
	})
	dv.Device, dv.cancel = d, cancel
	return dv
}

func sigKind(s signaling.Signal) string {
	switch {
	case s.Description != nil:
		return s.Description.Type
	case s.Candidate != nil:
		return "candidate:" + s.Candidate.Candidate
	}
	return "end"
}

// customer is a customer page stand-in on our Go client.
type customer struct {
	*socketio.Client
	ev     *events
	userID string
	mu     sync.Mutex
}

func (e *env) customer(invite, room, name string, transports ...string) *customer {
	e.t.Helper()
	return e.customerVia(e.h.URL(), invite, room, name, transports...)
}

// customerVia connects a customer through url (a proxy).
func (e *env) customerVia(url, invite, room, name string, transports ...string) *customer {
	e.t.Helper()
	c := &customer{ev: newEvents()}
	cfg := socketio.Config{
		Engine:     engineio.Config{URL: url},
		Transports: transports,
		Auth: func() map[string]any {
			return map[string]any{"role": "customer", "invite": invite, "name": name}
		},
		OnConnect: func(ctx context.Context, recovered bool) error {
			args, err := c.EmitWithAck(ctx, "room:join", map[string]any{"roomId": room})
			if err != nil {
				return err
			}
			var r struct {
				OK           bool   `json:"ok"`
				Error        string `json:"error"`
				UserID       string `json:"userId"`
				Position     int    `json:"position"`
				DeviceOnline bool   `json:"deviceOnline"`
			}
			if err := args.Decode(0, &r); err != nil {
				return err
			}
			if !r.OK {
				c.ev.add("join_error " + r.Error)
				return errors.New(r.Error)
			}
			c.mu.Lock()
			c.userID = r.UserID
			c.mu.Unlock()
			c.ev.add(fmt.Sprintf("joined %d online=%v", r.Position, r.DeviceOnline))
			return nil
		},
		OnEvent: func(me socketio.ManagerEvent) {
			if me.Kind == socketio.EventConnectError {
				c.ev.add(fmt.Sprint("connect_error ", me.Err))
			}
		},
		Logger: testenv.Logger(),
	}
	cl, err := socketio.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Client = cl
	on := func(name string, f func(socketio.Args) string) {
		cl.On(name, func(a socketio.Args, _ func(...any)) { c.ev.add(name + " " + f(a)) })
	}
	roomEv := func(a socketio.Args) string {
		var r signaling.RoomEvent
		a.Decode(0, &r)
		return strings.TrimSpace(r.UserID + " " + r.Reason)
	}
	on("queue:position", func(a socketio.Args) string {
		var p struct{ Position int }
		a.Decode(0, &p)
		return fmt.Sprint(p.Position)
	})
	on("room:user:joined", roomEv)
	on("room:user:left", roomEv)
	on("call:ended", roomEv)
	on("room:device:status", func(a socketio.Args) string {
		var s struct{ Online bool }
		a.Decode(0, &s)
		return fmt.Sprint(s.Online)
	})
	on("signal", func(a socketio.Args) string {
		var s signaling.Signal
		if err := a.Decode(0, &s); err != nil {
			return "bad " + err.Error()
		}
		return s.From + " " + sigKind(s)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			e.t.Error("customer did not stop")
		}
	})
	return c
}

func (c *customer) id() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userID
}

func (c *customer) emitAck(t *testing.T, event string, v any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	args, err := c.EmitWithAck(ctx, event, v)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	args.Decode(0, &r)
	if r.OK {
		return "ok"
	}
	return r.Error
}

func offer(to string) signaling.Signal {
	return signaling.Signal{To: to, Description: &signaling.SessionDescription{Type: "offer", SDP: "v=0\r\n"}}
}

func candidate(to, c string) signaling.Signal {
	return signaling.Signal{To: to, Candidate: &signaling.Candidate{Candidate: c}}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// Two customers queue for one counter; the first is in the call, ends it,
// the second is promoted. Signals flow only within the current call.
func TestHubQueueWithDevice(t *testing.T) {
	e := startHub(t, "", nil)
	d := e.device(e.token("c1"))
	if got := d.ev.next(t); got != "joined device:dev-c1" {
		t.Fatalf("device: %s", got)
	}
	if v := d.Verified(); v.DeviceID != "dev-c1" || v.RoomID != "r1" || time.Until(v.ExpiresAt) < 29*24*time.Hour {
		t.Fatalf("verify answer %+v", v)
	}
	inv := e.invite("r1", time.Hour)
	a := e.customer(inv, "r1", "Ann")
	if got := a.ev.next(t); got != "joined 0 online=true" {
		t.Fatalf("A: %s", got)
	}
	a.ev.expect(t, "queue:position 0")
	if got := d.ev.next(t); got != "user:joined "+a.id() {
		t.Fatalf("device: %s", got)
	}
	b := e.customer(inv, "r1", "Bob", engineio.TransportPolling)
	if got := b.ev.next(t); got != "joined 1 online=true" {
		t.Fatalf("B: %s", got)
	}
	b.ev.expect(t, "queue:position 1")

	// Negotiation between the device and A, both ways.
	ctx := ctxT(t)
	if err := d.SendSignal(ctx, offer(a.id())); err != nil {
		t.Fatal(err)
	}
	if got := a.ev.next(t); got != "signal dev-c1 offer" {
		t.Fatalf("A: %s", got)
	}
	if r := a.emitAck(t, "signal", candidate("dev-c1", "candidate:1 1 udp 1 10.0.0.1 9 typ host")); r != "ok" {
		t.Fatalf("A signal: %s", r)
	}
	if got := d.ev.next(t); got != "signal "+a.id()+" candidate:candidate:1 1 udp 1 10.0.0.1 9 typ host" {
		t.Fatalf("device: %s", got)
	}
	// B is waiting: nothing reaches it, nothing from it reaches the device.
	if r := b.emitAck(t, "signal", offer("dev-c1")); r != "not_in_call" {
		t.Fatalf("queued B's signal: %s", r)
	}
	// (with an ack, so that it reached the hub before the call ends)
	args, err := d.Client().EmitWithAck(ctx, "signal", offer(b.id()))
	if err != nil || !strings.Contains(string(args.Raw(0)), "not_in_call") {
		t.Fatalf("device to queued B: %v %s", err, args.Raw(0))
	}
	// A malformed signal (two payloads) is refused.
	if r := a.emitAck(t, "signal", map[string]any{"to": "dev-c1", "candidate": nil, "description": map[string]any{"type": "offer", "sdp": ""}}); r != "bad_request" {
		t.Fatalf("malformed signal: %s", r)
	}

	// A ends the call: device and A hear call:ended, B is promoted.
	if r := a.emitAck(t, "call:ended", map[string]any{"roomId": "r1", "userId": a.id(), "reason": "bye"}); r != "ok" {
		t.Fatalf("call:ended: %s", r)
	}
	if got := a.ev.next(t); got != "call:ended "+a.id()+" bye" {
		t.Fatalf("A: %s", got)
	}
	if got := d.ev.next(t); got != "call:ended "+a.id()+" bye" {
		t.Fatalf("device: %s (B's offer must not have been forwarded)", got)
	}
	if got := d.ev.next(t); got != "user:joined "+b.id() {
		t.Fatalf("device: %s", got)
	}
	if got := b.ev.next(t); got != "queue:position 0" {
		t.Fatalf("B: %s", got)
	}
	if got := b.ev.next(t); got != "room:user:joined dev-c1" {
		t.Fatalf("B: %s", got)
	}
	if err := d.SendSignal(ctx, offer(b.id())); err != nil {
		t.Fatal(err)
	}
	if got := b.ev.next(t); got != "signal dev-c1 offer" {
		t.Fatalf("B: %s", got)
	}
	// The device ends B's call.
	if err := d.EndCall(ctx, b.id(), "served"); err != nil {
		t.Fatal(err)
	}
	if got := b.ev.next(t); got != "call:ended "+b.id()+" served" {
		t.Fatalf("B: %s", got)
	}

	// The fleet view has the device's status and transport.
	f, err := e.h.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 2 || !f[0].Online || f[0].Transport != "websocket" || f[1].Online {
		t.Fatalf("fleet %+v", f)
	}
}

// A signal addressed to another room's customer is never delivered; a
// second device's customer sees only its own device.
func TestHubWrongRoomSignal(t *testing.T) {
	e := startHub(t, "", nil)
	d1 := e.device(e.token("c1"))
	d2 := e.device(e.token("c2"))
	d1.ev.expect(t, "joined")
	d2.ev.expect(t, "joined")
	x := e.customer(e.invite("r2", time.Hour), "r2", "Xena")
	x.ev.expect(t, "joined 0")
	d2.ev.expect(t, "user:joined")
	a := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	a.ev.expect(t, "joined 0")
	d1.ev.expect(t, "user:joined")
	ctx := ctxT(t)
	// d1 addresses r2's customer, and r2's device.
	d1.SendSignal(ctx, offer(x.id()))
	d1.SendSignal(ctx, offer("dev-c2"))
	// A (r1) addresses r2's device with an invite of r1.
	if r := a.emitAck(t, "signal", offer("dev-c2")); r != "not_in_call" {
		t.Fatalf("cross-room signal: %s", r)
	}
	// A customer cannot join another room than its invite's.
	if r := a.emitAck(t, "room:join", map[string]any{"roomId": "r2"}); r != "forbidden" {
		t.Fatalf("join r2 with r1's invite: %s", r)
	}
	// Barrier: a legitimate signal in r2 arrives first at x and d2.
	d2.SendSignal(ctx, candidate(x.id(), "candidate:barrier"))
	if got := x.ev.expect(t, "signal"); got != "signal dev-c2 candidate:candidate:barrier" {
		t.Fatalf("x got %s", got)
	}
	x.emitAck(t, "signal", candidate("dev-c2", "candidate:barrier2"))
	if got := d2.ev.expect(t, "signal"); got != "signal "+x.id()+" candidate:candidate:barrier2" {
		t.Fatalf("d2 got %s", got)
	}
}

// Refused CONNECTs carry the contract's messages.
func TestHubConnectRefused(t *testing.T) {
	e := startHub(t, "", nil)
	expired := e.invite("r1", time.Minute)
	e.clk.Advance(2 * time.Minute)
	valid := e.invite("r1", time.Hour)
	tests := []struct {
		name string
		auth map[string]any
		want string
	}{
		{"expired invite", map[string]any{"role": "customer", "invite": expired}, "invite_invalid"},
		{"forged invite", map[string]any{"role": "customer", "invite": valid[:len(valid)-3] + "AAA"}, "invite_invalid"},
		{"no invite", map[string]any{"role": "customer"}, "invite_invalid"},
		{"bad token", map[string]any{"role": "device", "token": "nope"}, "session_expired"},
		{"no token", map[string]any{"role": "device"}, "unauthorized"},
		{"no role", map[string]any{}, "unauthorized"},
		{"unknown role", map[string]any{"role": "admin", "token": "x"}, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan error, 4)
			cl, err := socketio.New(socketio.Config{
				Engine: engineio.Config{URL: e.h.URL()},
				Auth:   func() map[string]any { return tt.auth },
				OnEvent: func(me socketio.ManagerEvent) {
					if me.Kind == socketio.EventConnectError {
						select {
						case got <- me.Err:
						default:
						}
					}
				},
				OnStatus: func(s socketio.Status) {
					if s.State == socketio.SessionExpired {
						select {
						case got <- errors.New("session_expired"):
						default:
						}
					}
				},
				ReconnectionAttempts: 1,
				Logger:               testenv.Logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); cl.Run(ctx) }()
			defer func() { cancel(); <-done }()
			select {
			case err := <-got:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("connect error %v, want %s", err, tt.want)
				}
			case <-time.After(wait):
				t.Fatal("no connect_error")
			}
		})
	}
}

// Wrong passwords are rate-limited per username with a clear 429.
func TestHubLoginRateLimit(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) { c.Limiter = login.LimiterConfig{Free: 3} })
	for i := 0; i < 3; i++ {
		if code, m, _ := e.login("c1", "wrong-password"); code != 401 || m["error"] != "invalid_credentials" {
			t.Fatalf("attempt %d: %d %v", i, code, m)
		}
	}
	code, m, hdr := e.login("c1", "password-c1")
	if code != 429 || m["error"] != "rate_limited" || hdr.Get("Retry-After") == "" || m["retryAfter"].(float64) <= 0 {
		t.Fatalf("4th attempt: %d %v %v", code, m, hdr)
	}
	// Another account from the same address is not affected.
	if code, _, _ := e.login("c2", "password-c2"); code != 200 {
		t.Fatalf("c2: %d", code)
	}
	for _, body := range []string{"", "{", `{"username":1}`, `{"username":"a"} {}`, strings.Repeat("x", 5000)} {
		resp, err := http.Post(e.h.URL()+"/api/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("body %.20q: %d", body, resp.StatusCode)
		}
	}
	resp, err := http.Get(e.h.URL() + "/api/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET /api/login: %d", resp.StatusCode)
	}
}

// Revocation: the connected device gets session:expired and stops; its
// token is refused from then on.
func TestHubRevocation(t *testing.T) {
	e := startHub(t, "", nil)
	tok := e.token("c1")
	d := e.device(tok)
	d.ev.expect(t, "joined")
	a := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	a.ev.expect(t, "joined 0")
	if n, err := e.h.RevokeAccount("c1"); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	d.ev.expect(t, "session:expired")
	a.ev.expect(t, "room:device:status false")
	deadline := time.Now().Add(wait)
	for d.Client().Status().State != socketio.SessionExpired {
		if time.Now().After(deadline) {
			t.Fatalf("device state %v", d.Client().Status().State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.store.Verify(tok, false); !errors.Is(err, auth.ErrSessionExpired) {
		t.Fatalf("verify after revoke: %v", err)
	}
	// A new login resumes the device at once.
	d2 := e.device(e.token("c1"))
	d2.ev.expect(t, "joined")
	a.ev.expect(t, "room:device:status true")
}

// State survives a restart: the token, the invite, the accounts.
func TestHubRestart(t *testing.T) {
	e := startHub(t, "", nil)
	tok := e.token("c1")
	inv := e.invite("r1", time.Hour)
	path := e.path
	e.stop()

	e2 := startHub(t, path, nil)
	d := e2.device(tok)
	if got := d.ev.next(t); got != "joined device:dev-c1" {
		t.Fatalf("device after restart: %s", got)
	}
	a := e2.customer(inv, "r1", "Ann")
	a.ev.expect(t, "joined 0 online=true")
	if code, _, _ := e2.login("c2", "password-c2"); code != 200 {
		t.Fatalf("login after restart: %d", code)
	}
}

// The official socket.io-client as a customer: queue, promotion, signals.
func TestHubOfficialClientCustomers(t *testing.T) {
	e := startHub(t, "", nil)
	d := e.device(e.token("c1"))
	d.ev.expect(t, "joined")
	inv := e.invite("r1", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // node starts slowly on a loaded machine
	defer cancel()
	opts := func(name string, tr ...string) siotest.ClientOptions {
		return siotest.ClientOptions{Auth: map[string]any{"role": "customer", "invite": inv, "name": name},
			RoomID: "r1", NoVerify: true, Transports: tr}
	}
	a := siotest.StartClient(t, e.h.URL(), opts("Ann"))
	ja, err := a.Next(ctx, "joined")
	if err != nil {
		t.Fatal(err)
	}
	var ra struct {
		OK       bool   `json:"ok"`
		UserID   string `json:"userId"`
		Position int    `json:"position"`
	}
	json.Unmarshal(ja.Ack, &ra)
	if !ra.OK || ra.Position != 0 || ra.UserID == "" {
		t.Fatalf("A joined %s", ja.Ack)
	}
	if got := d.ev.expect(t, "user:joined"); got != "user:joined "+ra.UserID {
		t.Fatalf("device: %s", got)
	}
	b := siotest.StartClient(t, e.h.URL(), opts("Bob", "polling"))
	jb, err := b.Next(ctx, "joined")
	if err != nil {
		for _, ev := range b.Events() {
			t.Logf("B: %s", ev.Raw)
		}
		t.Fatal(err)
	}
	var rb struct {
		UserID   string `json:"userId"`
		Position int    `json:"position"`
	}
	json.Unmarshal(jb.Ack, &rb)
	if rb.Position != 1 {
		t.Fatalf("B joined %s", jb.Ack)
	}
	d.SendSignal(ctx, offer(ra.UserID))
	sig, err := a.NextEvent(ctx, "signal")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	json.Unmarshal(sig.Args[0], &s)
	if s["from"] != "dev-c1" || s["to"] != nil {
		t.Fatalf("A got signal %s", sig.Args[0])
	}
	if err := d.EndCall(ctx, ra.UserID, "served"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NextEvent(ctx, "call:ended"); err != nil {
		t.Fatal(err)
	}
	for {
		qp, err := b.NextEvent(ctx, "queue:position")
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Position int }
		json.Unmarshal(qp.Args[0], &p)
		if p.Position == 0 {
			break
		}
	}
	if got := d.ev.expect(t, "user:joined"); got != "user:joined "+rb.UserID {
		t.Fatalf("device: %s", got)
	}
	// An expired invite is refused with the contract's message.
	e.clk.Advance(2 * time.Hour)
	c := siotest.StartClient(t, e.h.URL(), opts("Late"))
	ce, err := c.Next(ctx, "connect_error")
	if err != nil {
		t.Fatal(err)
	}
	if ce.Error != "invite_invalid" {
		t.Fatalf("expired invite: %q", ce.Error)
	}
}
