package siotest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// testTimeout bounds every wait of one test; the seed's backoff tops out at
// 5 s, so each step completes in a few seconds when things work.
const testTimeout = 20 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func next(t *testing.T, ctx context.Context, c *Client, name string) ClientEvent {
	t.Helper()
	ev, err := c.Next(ctx, name)
	if err != nil {
		t.Fatalf("waiting for client event %q: %v\nevents: %s", name, err, dump(c.Events()))
	}
	return ev
}

func nextEvent(t *testing.T, ctx context.Context, c *Client, event string) ClientEvent {
	t.Helper()
	ev, err := c.NextEvent(ctx, event)
	if err != nil {
		t.Fatalf("waiting for server event %q: %v\nevents: %s", event, err, dump(c.Events()))
	}
	return ev
}

func dump(evs []ClientEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n  ")
		b.Write(e.Raw)
	}
	return b.String()
}

// ackOK decodes a {"ok": ...} reply.
func ackOK(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("ack %s: %v", raw, err)
	}
	return m
}

func TestOfficialClientJoins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		server        ServerOptions
		client        ClientOptions
		wantConnect   string // transport Engine.IO opens with
		wantUpgradeTo string // "" when no upgrade is expected
	}{
		{name: "websocket", wantConnect: "websocket"},
		{name: "polling only", server: ServerOptions{Transports: []string{"polling"}},
			client: ClientOptions{Transports: []string{"polling"}}, wantConnect: "polling"},
		{name: "websocket refused falls back to polling", server: ServerOptions{Transports: []string{"polling"}},
			wantConnect: "polling"},
		{name: "polling upgrades to websocket", client: ClientOptions{Transports: []string{"polling", "websocket"}},
			wantConnect: "polling", wantUpgradeTo: "websocket"},
		{name: "upgrades disabled", server: ServerOptions{NoUpgrades: true},
			client: ClientOptions{Transports: []string{"polling", "websocket"}}, wantConnect: "polling"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			s := StartServer(t, tc.server)
			c := StartClient(t, s.URL(), tc.client)
			// "open" reports the transport Engine.IO opened with; by
			// "connect" a fast upgrade may already have happened.
			if open := next(t, ctx, c, "open"); open.Transport != tc.wantConnect {
				t.Errorf("open transport=%q, want %q", open.Transport, tc.wantConnect)
			}
			conn := next(t, ctx, c, "connect")
			if conn.Recovered {
				t.Errorf("connect recovered on a fresh server")
			}
			v := ackOK(t, next(t, ctx, c, "verified").Ack)
			if v["ok"] != true || v["deviceId"] != "dev-1" || v["roomId"] != "room-1" {
				t.Errorf("verify ack = %v", v)
			}
			j := ackOK(t, next(t, ctx, c, "joined").Ack)
			if j["ok"] != true {
				t.Errorf("join ack = %v", j)
			}
			if tc.wantUpgradeTo != "" {
				if up := next(t, ctx, c, "upgrade"); up.Transport != tc.wantUpgradeTo {
					t.Errorf("upgrade to %q, want %q", up.Transport, tc.wantUpgradeTo)
				}
			}
			joins, err := s.Joins()
			if err != nil {
				t.Fatal(err)
			}
			if len(joins) != 1 || joins[0].SocketID != conn.ID || joins[0].RoomID != "room-1" || joins[0].Recovered {
				t.Errorf("joins = %+v, want one for %s", joins, conn.ID)
			}
			want := tc.wantConnect
			if tc.wantUpgradeTo != "" {
				want = tc.wantUpgradeTo
			}
			socks, err := s.WaitSockets(ctx, func(ss []SocketInfo) bool { return len(ss) == 1 && ss[0].Transport == want })
			if err != nil {
				t.Fatalf("sockets %+v: %v", socks, err)
			}
			if socks[0].ID != conn.ID || socks[0].Auth["role"] != "device" || socks[0].Auth["token"] != "good-token" {
				t.Errorf("socket = %+v", socks[0])
			}
		})
	}
}

func TestOfficialClientKillRestart(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	s := StartServer(t, ServerOptions{})
	port := s.Port()
	firstReady := s.ReadyAt()
	c := StartClient(t, s.URL(), ClientOptions{})
	first := next(t, ctx, c, "connect")
	next(t, ctx, c, "joined")

	s.Kill()
	if d := next(t, ctx, c, "disconnect"); d.Reason != "transport close" {
		t.Errorf("disconnect reason %q, want transport close", d.Reason)
	}
	s.Restart()
	if s.Port() != port {
		t.Fatalf("restart moved the port %d -> %d", port, s.Port())
	}
	if !s.ReadyAt().After(firstReady) {
		t.Errorf("ReadyAt did not advance")
	}
	next(t, ctx, c, "reconnect")
	second := next(t, ctx, c, "connect")
	if second.ID == first.ID || second.Recovered {
		t.Errorf("reconnect id %s recovered=%v; want a new, unrecovered session", second.ID, second.Recovered)
	}
	joined := next(t, ctx, c, "joined")
	joins, err := s.WaitJoins(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(joins) != 1 || joins[0].SocketID != second.ID {
		t.Errorf("joins after restart = %+v", joins)
	}
	if !joined.At.After(s.ReadyAt()) && !joined.At.Equal(s.ReadyAt()) {
		t.Errorf("joined at %v before the server was ready at %v", joined.At, s.ReadyAt())
	}
	t.Logf("hub up -> room:join acked: %v", joined.At.Sub(s.ReadyAt()))
}

func TestOfficialClientStopCont(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	s := StartServer(t, ServerOptions{PingInterval: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	c := StartClient(t, s.URL(), ClientOptions{})
	next(t, ctx, c, "joined")
	s.Stop()
	// The server sends no more pings: the client's watchdog (pingInterval +
	// pingTimeout) fires.
	if d := next(t, ctx, c, "disconnect"); d.Reason != "ping timeout" {
		t.Errorf("disconnect reason %q, want ping timeout", d.Reason)
	}
	next(t, ctx, c, "reconnect_attempt")
	s.Cont()
	next(t, ctx, c, "reconnect")
	next(t, ctx, c, "joined")
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		opts          ServerOptions
		broadcast     bool // server broadcasts once before the drop
		terminate     bool
		wantRecovered bool
	}{
		{name: "after a broadcast", opts: ServerOptions{Recovery: true}, broadcast: true, wantRecovered: true},
		{name: "welcome gives an offset", opts: ServerOptions{Recovery: true, Welcome: true}, terminate: true, wantRecovered: true},
		{name: "no broadcast yet: no offset, not recovered", opts: ServerOptions{Recovery: true}},
		{name: "recovery off", opts: ServerOptions{Welcome: true}, broadcast: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			s := StartServer(t, tc.opts)
			c := StartClient(t, s.URL(), ClientOptions{})
			first := next(t, ctx, c, "connect")
			next(t, ctx, c, "joined")
			if tc.opts.Welcome {
				nextEvent(t, ctx, c, "welcome")
			}
			if tc.broadcast {
				if err := s.Emit("news", map[string]any{"n": 1}); err != nil {
					t.Fatal(err)
				}
				nextEvent(t, ctx, c, "news")
			}
			if n, err := s.CloseTransports(tc.terminate); err != nil || n != 1 {
				t.Fatalf("closeTransports = %d, %v", n, err)
			}
			if d := next(t, ctx, c, "disconnect"); d.Reason != "transport close" {
				t.Errorf("client disconnect reason %q, want transport close", d.Reason)
			}
			second := next(t, ctx, c, "connect")
			if second.Recovered != tc.wantRecovered || (second.ID == first.ID) != tc.wantRecovered {
				t.Errorf("reconnect id %s (was %s) recovered=%v, want recovered=%v",
					second.ID, first.ID, second.Recovered, tc.wantRecovered)
			}
			next(t, ctx, c, "joined") // the seed re-joins on every connect
			joins, err := s.WaitJoins(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			if joins[1].Recovered != tc.wantRecovered {
				t.Errorf("second join recovered=%v", joins[1].Recovered)
			}
			ds, err := s.Disconnects()
			if err != nil {
				t.Fatal(err)
			}
			wantReason := "forced close"
			if tc.terminate {
				wantReason = "transport close"
			}
			if len(ds) != 1 || ds[0].Reason != wantReason {
				t.Errorf("server disconnects = %+v, want one %q", ds, wantReason)
			}
		})
	}
}

// TestServerDisconnectIsFinal documents socket.io 4.8: socket.disconnect(true)
// is a namespace DISCONNECT, not recoverable, and the official client stays
// disconnected (the persistent-mode gap issue 2 closes in our client).
func TestServerDisconnectIsFinal(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	s := StartServer(t, ServerOptions{Recovery: true, Welcome: true})
	c := StartClient(t, s.URL(), ClientOptions{})
	next(t, ctx, c, "joined")
	if n, err := s.DisconnectAll(); err != nil || n != 1 {
		t.Fatalf("disconnectAll = %d, %v", n, err)
	}
	if d := next(t, ctx, c, "disconnect"); d.Reason != "io server disconnect" {
		t.Errorf("client reason %q, want io server disconnect", d.Reason)
	}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Connected || st.Active {
		t.Errorf("state connected=%v active=%v; the official client should give up", st.Connected, st.Active)
	}
	ds, err := s.Disconnects()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Reason != "server namespace disconnect" {
		t.Errorf("server disconnects = %+v", ds)
	}
}

func TestAcksAndBinaryBothWays(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	s := StartServer(t, ServerOptions{})
	c := StartClient(t, s.URL(), ClientOptions{})
	next(t, ctx, c, "joined")
	blob := []byte{0, 1, 2, 0xfe, 0xff}

	// client -> server with ack, binary in the ack.
	args, err := c.EmitWithAck(ctx, "echo", "text", blob, map[string]any{"nested": blob})
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 3 || string(args[0]) != `"text"` {
		t.Fatalf("echo ack args = %s", args)
	}
	if b, ok := DecodeBinary(args[1]); !ok || !bytes.Equal(b, blob) {
		t.Errorf("echo binary = %s", args[1])
	}
	var nested struct{ Nested Binary }
	if err := json.Unmarshal(args[2], &nested); err != nil || !bytes.Equal(nested.Nested, blob) {
		t.Errorf("nested binary = %s (%v)", args[2], err)
	}

	// server -> client event with binary.
	if _, err := c.EmitWithAck(ctx, "echo:back", blob); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, ctx, c, "echo")
	if len(ev.Args) != 1 {
		t.Fatalf("event = %s", ev.Raw)
	}
	if b, ok := DecodeBinary(ev.Args[0]); !ok || !bytes.Equal(b, blob) {
		t.Errorf("echo:back binary = %s", ev.Args[0])
	}

	// server -> client with ack: the client's answer is recorded.
	args, err = c.EmitWithAck(ctx, "ask", "q1")
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 1 || string(args[0]) != `{"answer":["q1"]}` {
		t.Errorf("ask ack = %s", args)
	}
	replies, err := s.Replies()
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 || replies[0].Error != "" || len(replies[0].Args) != 1 || string(replies[0].Args[0]) != `{"answer":["q1"]}` {
		t.Errorf("replies = %+v", replies)
	}

	// ctl emit to all with binary.
	if err := s.Emit("blob", blob); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, ctx, c, "blob")
	if b, ok := DecodeBinary(ev.Args[0]); !ok || !bytes.Equal(b, blob) {
		t.Errorf("ctl emit event = %s", ev.Raw)
	}

	// keepalive.
	args, err = c.EmitWithAck(ctx, "keepalive", map[string]any{"t": 42})
	if err != nil {
		t.Fatal(err)
	}
	if k := ackOK(t, args[0]); k["ok"] != true || k["t"] != float64(42) || k["serverTime"] == nil {
		t.Errorf("keepalive ack = %v", k)
	}
	evs, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Event)
	}
	if got := strings.Join(names, ","); got != "session:verify,room:join,echo,echo:back,ask,keepalive" {
		t.Errorf("server saw events %s", got)
	}
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	s := StartServer(t, ServerOptions{})
	tests := []struct {
		name string
		opts ClientOptions
		want string
	}{
		{name: "bad token", opts: ClientOptions{Token: "nope"}, want: "unauthorized"},
		{name: "expired token", opts: ClientOptions{Token: "expired-token"}, want: "session_expired"},
		{name: "bad invite", opts: ClientOptions{Auth: map[string]any{"role": "customer", "invite": "x"}}, want: "invite_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			c := StartClient(t, s.URL(), tc.opts)
			ce := next(t, ctx, c, "connect_error")
			if ce.Error != tc.want || ce.Active {
				t.Errorf("connect_error %q active=%v, want %q, false", ce.Error, ce.Active, tc.want)
			}
		})
	}
	t.Run("customer with invite", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		c := StartClient(t, s.URL(), ClientOptions{NoVerify: true,
			Auth: map[string]any{"role": "customer", "invite": "good-invite", "name": "Ada"}})
		j := ackOK(t, next(t, ctx, c, "joined").Ack)
		if j["ok"] != true {
			t.Errorf("customer join = %v", j)
		}
	})
	t.Run("expire", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		s := StartServer(t, ServerOptions{}) // Expire changes server state
		if err := s.Expire(false, false); err != nil {
			t.Fatal(err)
		}
		c := StartClient(t, s.URL(), ClientOptions{})
		v := ackOK(t, next(t, ctx, c, "verified").Ack)
		if v["ok"] != false || v["error"] != "session_expired" {
			t.Errorf("verify after expire = %v", v)
		}
		nextEvent(t, ctx, c, "session:expired")
		if err := s.Reset(); err != nil {
			t.Fatal(err)
		}
		c2 := StartClient(t, s.URL(), ClientOptions{})
		if v := ackOK(t, next(t, ctx, c2, "verified").Ack); v["ok"] != true {
			t.Errorf("verify after reset = %v", v)
		}
	})
	t.Run("expire on connect", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		s := StartServer(t, ServerOptions{})
		if err := s.Expire(true, false); err != nil {
			t.Fatal(err)
		}
		c := StartClient(t, s.URL(), ClientOptions{})
		if ce := next(t, ctx, c, "connect_error"); ce.Error != "session_expired" {
			t.Errorf("connect_error %q, want session_expired", ce.Error)
		}
	})
}

func TestTarpit(t *testing.T) {
	t.Parallel()
	addr := Tarpit(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The tarpit must not answer: a read with a short deadline times out.
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); err == nil || !asNetError(err, &ne) || !ne.Timeout() {
		t.Errorf("read from tarpit: %v, want a timeout", err)
	}
}

func asNetError(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

func TestGarbageTCP(t *testing.T) {
	t.Parallel()
	addr := GarbageTCP(t, []byte("\x00garbage"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "\x00garbage" {
		t.Errorf("read %q, %v", got, err)
	}
}

func TestGarbageWSServer(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("4"), 2<<20) // 2 MiB: over socket.io's 1e6 default
	frames := [][]byte{[]byte("not engine.io"), []byte(`0{"sid":`), big}
	url := GarbageWSServer(t, frames)

	ctx := ctxFor(t)
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx,
		"ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	defer func() { _ = ws.Close() }()
	for i, want := range frames {
		_ = ws.SetReadDeadline(time.Now().Add(testTimeout))
		typ, got, err := ws.ReadMessage()
		if err != nil || typ != websocket.TextMessage || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: type %d len %d err %v", i, typ, len(got), err)
		}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/socket.io/?EIO=4&transport=polling", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(hr.Body)
	_ = hr.Body.Close()
	if err != nil || !bytes.Equal(body, bytes.Join(frames, []byte{0x1e})) {
		t.Errorf("polling body len %d, %v", len(body), err)
	}
}

// TestRestartWaitsForBusyPort holds the server's port while it restarts;
// Restart retries until the port is free again (node needs ~0.5 s to fail
// with EADDRINUSE, so the port is held for longer than that).
func TestRestartWaitsForBusyPort(t *testing.T) {
	t.Parallel()
	s := StartServer(t, ServerOptions{})
	port := s.Port()
	s.Kill()
	ln, err := net.Listen("tcp", s.URL()[len("http://"):])
	if err != nil {
		t.Fatalf("hold port %d: %v", port, err)
	}
	release := time.AfterFunc(1500*time.Millisecond, func() { _ = ln.Close() })
	t.Cleanup(func() { release.Stop(); _ = ln.Close() })
	s.Restart()
	if s.Port() != port {
		t.Errorf("port %d, want %d", s.Port(), port)
	}
	var r struct {
		OK bool `json:"ok"`
	}
	if err := s.Ctl("ping", nil, &r); err != nil || !r.OK {
		t.Errorf("ctl ping = %+v, %v", r, err)
	}
	if err := s.Ctl("nosuch", nil, nil); !errors.Is(err, ErrCtl) {
		t.Errorf("unknown ctl command: %v, want ErrCtl", err)
	}
}

// TestMaxHTTPBufferSize sends a message over the server's limit: socket.io
// closes the connection and the official client reconnects.
func TestMaxHTTPBufferSize(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	s := StartServer(t, ServerOptions{MaxHTTPBufferSize: 1000})
	c := StartClient(t, s.URL(), ClientOptions{})
	next(t, ctx, c, "joined")
	if _, err := c.EmitWithAck(ctx, "echo", strings.Repeat("x", 900)); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	if err := c.Emit("echo", strings.Repeat("x", 2000)); err != nil {
		t.Fatal(err)
	}
	d := next(t, ctx, c, "disconnect")
	ds, err := s.Disconnects()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("oversize message: client reason %q, server %+v", d.Reason, ds)
	if d.Reason != "transport close" || len(ds) != 1 || ds[0].Reason != "transport error" {
		t.Errorf("client reason %q, server disconnects %+v; want transport close / transport error", d.Reason, ds)
	}
	next(t, ctx, c, "joined")
}
