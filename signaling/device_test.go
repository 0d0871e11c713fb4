package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

func TestSignalJSON(t *testing.T) {
	mid := "0"
	idx := uint16(0)
	tests := []struct {
		name string
		in   Signal
		want string
	}{
		{"offer", Signal{To: "u1", Description: &SessionDescription{Type: "offer", SDP: "v=0"}}, `{"to":"u1","description":{"type":"offer","sdp":"v=0"}}`},
		{"candidate", Signal{To: "u1", Candidate: &Candidate{Candidate: "candidate:1", SDPMid: &mid, SDPMLineIndex: &idx}}, `{"to":"u1","candidate":{"candidate":"candidate:1","sdpMid":"0","sdpMLineIndex":0}}`},
		{"end of candidates", Signal{From: "u1", EndOfCandidates: true}, `{"from":"u1","candidate":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil || string(b) != tt.want {
				t.Fatalf("marshal %s %v, want %s", b, err, tt.want)
			}
			var back Signal
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			b2, _ := json.Marshal(back)
			if string(b2) != tt.want {
				t.Fatalf("round trip %s", b2)
			}
		})
	}
	for _, bad := range []string{`{}`, `{"to":"u"}`, `{"description":{"type":"offer","sdp":""},"candidate":null}`, `{"description":{"type":"bogus","sdp":""}}`, `{"candidate":5}`, `[]`} {
		var s Signal
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestICEServerURLs(t *testing.T) {
	var s []ICEServer
	if err := json.Unmarshal([]byte(`[{"urls":"stun:a"},{"urls":["turn:b?transport=udp","turns:c"],"username":"u","credential":"p"}]`), &s); err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[0].URLs[0] != "stun:a" || len(s[1].URLs) != 2 || s[1].Username != "u" {
		t.Fatalf("%+v", s)
	}
	if err := json.Unmarshal([]byte(`[{"username":"x"}]`), &s); err == nil {
		t.Fatal("entry without urls accepted")
	}
}

func FuzzSignal(f *testing.F) {
	for _, s := range []string{`{"from":"u1","candidate":null}`, `{"from":"u","description":{"type":"answer","sdp":"v=0\r\n"}}`, `{"candidate":{"candidate":"c","sdpMLineIndex":70000}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Signal
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded signal fails validation: %v", err)
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Signal
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
	})
}

func TestDeviceAgainstNode(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	var token atomic.Value
	token.Store("good-token")
	verified := make(chan VerifyReply, 4)
	joined := make(chan JoinReply, 4)
	userJoined := make(chan RoomEvent, 4)
	expired := make(chan struct{}, 1)
	d, err := NewDevice(DeviceConfig{
		HubURL:            srv.URL(),
		Token:             func() string { return token.Load().(string) },
		KeepaliveInterval: 200 * time.Millisecond,
		StatusInterval:    time.Hour,
		Status:            func() any { return map[string]any{"socket": map[string]any{"state": "connected"}} },
		Handlers: Handlers{
			Verified:      func(v VerifyReply) { verified <- v },
			Joined:        func(j JoinReply) { joined <- j },
			UserJoined:    func(e RoomEvent) { userJoined <- e },
			SessionExpire: func() { expired <- struct{}{} },
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	wait := func(what string, ch any) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		switch c := ch.(type) {
		case chan VerifyReply:
			select {
			case v := <-c:
				if v.DeviceID != "dev-1" || v.RoomID != "room-1" || v.ExpiresAt.IsZero() {
					t.Fatalf("verify %+v", v)
				}
			case <-timeout:
				t.Fatalf("no %s", what)
			}
		case chan JoinReply:
			select {
			case j := <-c:
				if !j.OK || len(j.Members) == 0 {
					t.Fatalf("join %+v", j)
				}
			case <-timeout:
				t.Fatalf("no %s", what)
			}
		case chan struct{}:
			select {
			case <-c:
			case <-timeout:
				t.Fatalf("no %s", what)
			}
		}
	}
	wait("verify", verified)
	wait("join", joined)
	// Keep-alive answers with an RTT (Device.RTT, which health reads).
	for deadline := time.Now().Add(10 * time.Second); d.RTT() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no keep-alive answer")
		}
	}
	if rtt := d.RTT(); rtt <= 0 || rtt > 5*time.Second {
		t.Fatalf("rtt %v", rtt)
	}
	// A customer (the official client) joins the room: the device hears it.
	cust := siotest.StartClient(t, srv.URL(), siotest.ClientOptions{Auth: map[string]any{"role": "customer", "invite": "good-invite", "name": "Ada"}, NoVerify: true})
	_ = cust
	select {
	case e := <-userJoined:
		if e.RoomID != "room-1" || e.UserID == "" {
			t.Fatalf("user joined %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("device did not hear room:user:joined")
	}
	// The server restarts: the device verifies and joins again by itself.
	srv.Kill()
	srv.Restart()
	wait("verify after restart", verified)
	wait("join after restart", joined)
	// The session is revoked: the device stops and says so.
	if err := srv.Expire(true, true); err != nil {
		t.Fatal(err)
	}
	wait("session expired", expired)
	deadline := time.Now().Add(10 * time.Second)
	for d.Client().Status().State != socketio.SessionExpired && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := d.Client().Status(); st.State != socketio.SessionExpired {
		t.Fatalf("state %v", st.State)
	}
	// A new login: new token, the server accepts again, Resume.
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	token.Store("good-token")
	d.Relogin()
	wait("verify after login", verified)
	wait("join after login", joined)
	if err := d.SendSignal(ctx, Signal{To: "nobody"}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("invalid signal sent: %v", err)
	}
}

// TestDeviceRecoveredReconnect: a reconnect that recovers the session runs
// no verify and no join, but the WebRTC layer must still hear of it
// (Handlers.Reconnected): what it emitted into the dead connection is
// lost, recovery replays only the server's packets. Without it an
// ICE-restart offer sent during a 30 s link cut was never re-sent and the
// call never came back (tether-bench, 2026-12-03).
func TestDeviceRecoveredReconnect(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{Recovery: true, Welcome: true})
	joined := make(chan JoinReply, 4)
	reconnected := make(chan bool, 4)
	d, err := NewDevice(DeviceConfig{
		HubURL:            srv.URL(),
		Token:             func() string { return "good-token" },
		KeepaliveInterval: time.Hour,
		StatusInterval:    time.Hour,
		Handlers: Handlers{
			Joined:      func(j JoinReply) { joined <- j },
			Reconnected: func(recovered bool) { reconnected <- recovered },
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	welcomed := make(chan struct{}, 4)
	d.Client().On("welcome", func(socketio.Args, func(...any)) { welcomed <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	recv := func(what string, ch any) any {
		t.Helper()
		timeout := time.After(20 * time.Second)
		switch c := ch.(type) {
		case chan JoinReply:
			select {
			case v := <-c:
				return v
			case <-timeout:
			}
		case chan bool:
			select {
			case v := <-c:
				return v
			case <-timeout:
			}
		case chan struct{}:
			select {
			case v := <-c:
				return v
			case <-timeout:
			}
		}
		t.Fatalf("no %s within 20 s", what)
		return nil
	}
	recv("join", joined)
	if r := recv("first connect's Reconnected", reconnected); r != false {
		t.Fatalf("first connect: recovered=%v", r)
	}
	// A broadcast gives the socket a recovery offset (siotest's doc).
	if err := srv.Emit("welcome", "again"); err != nil {
		t.Fatal(err)
	}
	recv("welcome", welcomed)
	// The transport dies under the socket (as after a link cut): the
	// session is recovered on the reconnect.
	if n, err := srv.CloseTransports(true); err != nil || n != 1 {
		t.Fatalf("closeTransports %d %v", n, err)
	}
	if r := recv("Reconnected after the recovered reconnect", reconnected); r != true {
		t.Fatalf("Reconnected(recovered=%v), want a recovered session", r)
	}
	if st := d.Client().Status(); !st.Recovered {
		t.Fatalf("status %+v: not recovered", st)
	}
	select {
	case j := <-joined:
		t.Fatalf("a recovered session joined again: %+v", j)
	default:
	}
}
