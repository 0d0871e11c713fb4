package socketio_test

// The official socket.io-client 4.8.4 (Node, configured as the seed) against
// our Socket.IO server, through siotest's client harness.

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tether/signaling/internal/siotest"
)

func nodeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func nextEv(t *testing.T, ctx context.Context, c *siotest.Client, name string) siotest.ClientEvent {
	t.Helper()
	ev, err := c.Next(ctx, name)
	if err != nil {
		t.Fatalf("%v\nevents: %s", err, dumpEvents(c.Events()))
	}
	return ev
}

func dumpEvents(evs []siotest.ClientEvent) string {
	var b bytes.Buffer
	for _, e := range evs {
		b.Write(e.Raw)
		b.WriteByte('\n')
	}
	return b.String()
}

func ackMap(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("ack %s: %v", raw, err)
	}
	return m
}

// noLeaks checks, after every other cleanup of the test, that no goroutine
// started during the test is left.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func TestServerOfficialClientTransports(t *testing.T) {
	tests := []struct {
		name        string
		server      hubOpts
		client      siotest.ClientOptions
		wantOpen    string
		wantUpgrade bool
	}{
		{name: "websocket", wantOpen: "websocket"},
		{name: "polling only", client: siotest.ClientOptions{Transports: []string{"polling"}}, wantOpen: "polling"},
		{name: "websocket refused falls back to polling", server: hubOpts{transports: []string{"polling"}}, wantOpen: "polling"},
		{name: "polling upgrades to websocket", client: siotest.ClientOptions{Transports: []string{"polling", "websocket"}},
			wantOpen: "polling", wantUpgrade: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			ctx := nodeCtx(t)
			hub := startHub(t, tc.server)
			c := siotest.StartClient(t, hub.URL(), tc.client)
			if open := nextEv(t, ctx, c, "open"); open.Transport != tc.wantOpen {
				t.Errorf("open over %q, want %q", open.Transport, tc.wantOpen)
			}
			conn := nextEv(t, ctx, c, "connect")
			if conn.Recovered {
				t.Error("recovered on a fresh server")
			}
			if v := ackMap(t, nextEv(t, ctx, c, "verified").Ack); v["ok"] != true || v["deviceId"] != "dev-1" {
				t.Errorf("verify ack %v", v)
			}
			if j := ackMap(t, nextEv(t, ctx, c, "joined").Ack); j["ok"] != true {
				t.Errorf("join ack %v", j)
			}
			if tc.wantUpgrade {
				if up := nextEv(t, ctx, c, "upgrade"); up.Transport != "websocket" {
					t.Errorf("upgrade to %q", up.Transport)
				}
			}
			nextEvent(t, ctx, c, "welcome")

			// Acks and binary both ways, on whatever transport is in use.
			blob := []byte{0, 1, 2, 0xfe, 0xff}
			args, err := c.EmitWithAck(ctx, "echo", "text", blob, map[string]any{"nested": blob})
			if err != nil {
				t.Fatal(err)
			}
			if len(args) != 3 || string(args[0]) != `"text"` {
				t.Fatalf("echo ack %s", args)
			}
			if b, ok := siotest.DecodeBinary(args[1]); !ok || !bytes.Equal(b, blob) {
				t.Errorf("echo binary %s", args[1])
			}
			var nested struct{ Nested siotest.Binary }
			if err := json.Unmarshal(args[2], &nested); err != nil || !bytes.Equal(nested.Nested, blob) {
				t.Errorf("nested binary %s (%v)", args[2], err)
			}
			if _, err := c.EmitWithAck(ctx, "echo:back", blob); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, ctx, c, "echo")
			if b, ok := siotest.DecodeBinary(ev.Args[0]); len(ev.Args) != 1 || !ok || !bytes.Equal(b, blob) {
				t.Errorf("server → client binary %s", ev.Raw)
			}
			// Server → client with ack (client.js answers {answer: args}).
			args, err = c.EmitWithAck(ctx, "ask", "q1", blob)
			if err != nil {
				t.Fatal(err)
			}
			var ans struct{ Answer []json.RawMessage }
			if len(args) != 1 || json.Unmarshal(args[0], &ans) != nil || len(ans.Answer) != 2 || string(ans.Answer[0]) != `"q1"` {
				t.Fatalf("ask ack %s", args)
			}
			if b, ok := siotest.DecodeBinary(ans.Answer[1]); !ok || !bytes.Equal(b, blob) {
				t.Errorf("binary in the client's ack %s", ans.Answer[1])
			}
			// Broadcast to the room reaches it with an offset appended.
			if err := hub.Server().To("room-1").Emit("news", map[string]any{"n": 1}); err != nil {
				t.Fatal(err)
			}
			if ev := nextEvent(t, ctx, c, "news"); len(ev.Args) != 2 {
				t.Errorf("broadcast args %s (want payload + offset)", ev.Raw)
			}
			want := tc.wantOpen
			if tc.wantUpgrade {
				want = "websocket"
			}
			for ctx.Err() == nil {
				socks := hub.Server().Sockets()
				if len(socks) == 1 && socks[0].ID() == conn.ID && socks[0].Transport() == want {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if ctx.Err() != nil {
				t.Fatalf("server never saw socket %s on %s", conn.ID, want)
			}
			c.Kill()
		})
	}
}

func nextEvent(t *testing.T, ctx context.Context, c *siotest.Client, event string) siotest.ClientEvent {
	t.Helper()
	ev, err := c.NextEvent(ctx, event)
	if err != nil {
		t.Fatalf("%v\nevents: %s", err, dumpEvents(c.Events()))
	}
	return ev
}

func TestServerOfficialClientRecovery(t *testing.T) {
	tests := []struct {
		name       string
		transports []string
		noWelcome  bool
		recovered  bool
	}{
		{name: "websocket", recovered: true},
		{name: "polling", transports: []string{"polling"}, recovered: true},
		{name: "no broadcast yet: no offset", noWelcome: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			ctx := nodeCtx(t)
			hub := startHub(t, hubOpts{noWelcome: tc.noWelcome})
			c := siotest.StartClient(t, hub.URL(), siotest.ClientOptions{Transports: tc.transports})
			first := nextEv(t, ctx, c, "connect")
			nextEv(t, ctx, c, "joined")
			if !tc.noWelcome {
				nextEvent(t, ctx, c, "welcome")
			}
			s := hub.Server().Socket(first.ID)
			if s == nil {
				t.Fatal("socket not on the server")
			}
			s.CloseTransport()
			if d := nextEv(t, ctx, c, "disconnect"); d.Reason != "transport close" {
				t.Errorf("client reason %q, want transport close", d.Reason)
			}
			// Missed while away: replayed on recovery.
			if err := hub.Server().To("room-1").Emit("news", "missed"); err != nil {
				t.Fatal(err)
			}
			second := nextEv(t, ctx, c, "connect")
			if second.Recovered != tc.recovered || (second.ID == first.ID) != tc.recovered {
				t.Fatalf("reconnect id %s (was %s) recovered=%v, want %v", second.ID, first.ID, second.Recovered, tc.recovered)
			}
			if tc.recovered {
				if ev := nextEvent(t, ctx, c, "news"); len(ev.Args) != 2 || string(ev.Args[0]) != `"missed"` {
					t.Errorf("replayed %s", ev.Raw)
				}
				rs := hub.Server().Socket(first.ID)
				if rs == nil || !rs.Recovered() || !rs.In("room-1") {
					t.Fatalf("server socket after recovery %v", rs)
				}
			}
			nextEv(t, ctx, c, "joined") // the seed re-joins on every connect
			hub.mu.Lock()
			discs := append([]string(nil), func() []string {
				var out []string
				for _, d := range hub.discs {
					out = append(out, string(d))
				}
				return out
			}()...)
			hub.mu.Unlock()
			if len(discs) != 1 || discs[0] != "forced close" {
				t.Errorf("server disconnect reasons %v", discs)
			}
			c.Kill()
		})
	}
}

func TestServerOfficialClientRestart(t *testing.T) {
	noLeaks(t)
	ctx := nodeCtx(t)
	hub := startHub(t, hubOpts{})
	c := siotest.StartClient(t, hub.URL(), siotest.ClientOptions{})
	first := nextEv(t, ctx, c, "connect")
	nextEv(t, ctx, c, "joined")
	for i := range 2 {
		hub.Kill()
		nextEv(t, ctx, c, "disconnect")
		hub.Restart()
		re := nextEv(t, ctx, c, "connect")
		if re.Recovered || re.ID == first.ID {
			t.Fatalf("restart %d: recovered=%v id %s", i, re.Recovered, re.ID)
		}
		nextEv(t, ctx, c, "joined")
		if err := hub.waitJoins(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill()
}

func TestServerOfficialClientConnectErrors(t *testing.T) {
	noLeaks(t)
	hub := startHub(t, hubOpts{})
	for _, tc := range []struct {
		name string
		o    siotest.ClientOptions
		want string
	}{
		{"unauthorized", siotest.ClientOptions{Token: "bad"}, "unauthorized"},
		{"session_expired", siotest.ClientOptions{Token: "expired-token"}, "session_expired"},
		{"invite_invalid", siotest.ClientOptions{Auth: map[string]any{"role": "customer", "invite": "nope"}, NoVerify: true}, "invite_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := nodeCtx(t)
			c := siotest.StartClient(t, hub.URL(), tc.o)
			e := nextEv(t, ctx, c, "connect_error")
			if e.Error != tc.want {
				t.Errorf("connect_error %q, want %q", e.Error, tc.want)
			}
			c.Kill()
		})
	}
	t.Run("customer with invite", func(t *testing.T) {
		ctx := nodeCtx(t)
		dev := siotest.StartClient(t, hub.URL(), siotest.ClientOptions{})
		nextEv(t, ctx, dev, "joined")
		cust := siotest.StartClient(t, hub.URL(), siotest.ClientOptions{
			Auth: map[string]any{"role": "customer", "invite": "good-invite", "name": "Ann"}, NoVerify: true})
		j := ackMap(t, nextEv(t, ctx, cust, "joined").Ack)
		if ms, _ := j["members"].([]any); len(ms) != 2 {
			t.Errorf("members %v", j)
		}
		// The device hears about the customer (socket.to(room): not the sender).
		ev := nextEvent(t, ctx, dev, "room:user:joined")
		if !bytes.Contains(ev.Raw, []byte(`"role":"customer"`)) {
			t.Errorf("room:user:joined %s", ev.Raw)
		}
		for _, e := range cust.Events() {
			if e.Name == "event" && e.Event == "room:user:joined" {
				t.Errorf("sender got its own room:user:joined")
			}
		}
		// Server-side disconnect is final for the official client.
		s := hub.Server().Socket(nextEv(t, ctx, cust, "connect").ID)
		if s == nil {
			t.Fatal("customer socket missing")
		}
		s.Disconnect(true)
		if d := nextEv(t, ctx, cust, "disconnect"); d.Reason != "io server disconnect" {
			t.Errorf("reason %q", d.Reason)
		}
		left := nextEvent(t, ctx, dev, "room:user:left")
		if !bytes.Contains(left.Raw, []byte("server namespace disconnect")) {
			t.Errorf("room:user:left %s", left.Raw)
		}
		cust.Kill()
		dev.Kill()
	})
}
