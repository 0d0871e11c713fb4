package hub

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling"
	"tether/signaling/hub/auth"
)

func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{
		`{"username":"c1","password":"password-1"}`, `{}`, `{"username":""}`, `[]`, `null`,
		`{"username":"c1","password":"x"} trailing`, `{"username":"` + strings.Repeat("a", 70) + `"}`,
		"{\"username\":\"\\u0000\",\"password\":\"\\ud800\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeLogin(body)
		if err != nil {
			return
		}
		if req.Username == "" || len(req.Username) > auth.MaxNameLen || len(req.Password) > 1024 {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzConnectAuth feeds CONNECT auth payloads and event arguments to a hub
// with one counter, one customer and one waiting customer: nothing may
// panic, nothing may be accepted without a valid token or invite, and no
// signal may reach the waiting customer.
func FuzzConnectAuth(f *testing.F) {
	st, err := auth.Open(auth.Config{Path: filepath.Join(f.TempDir(), "hub.db"), KDF: testenv.KDF, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	st.AddAccount("c1", "password-1", auth.RoleCounter, "r1")
	_, tok, _ := st.Login("c1", "password-1")
	inv, _ := st.NewInvite("r1", time.Hour)
	h, err := New(Config{Listen: "127.0.0.1:0", Store: st, AdminSocket: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer h.closeAll()
	for _, s := range []string{
		`{"role":"device","token":"` + tok + `"}`, `{"role":"customer","invite":"` + inv.Code + `","name":"Ann"}`,
		`{"role":"device"}`, `{"role":"customer","invite":"AAAA"}`, `[]`, `"x"`, `{"role":null}`, ``,
	} {
		f.Add([]byte(s), "signal", []byte(`{"to":"cus-1","description":{"type":"offer","sdp":"v=0"}}`))
	}
	f.Add([]byte(`{}`), "room:join", []byte(`{"roomId":"r1"}`))
	f.Add([]byte(`{}`), "call:ended", []byte(`{"roomId":"r1","userId":"x","reason":"`+strings.Repeat("r", 100)+`"}`))
	f.Add([]byte(`{}`), "keepalive", []byte(`{"t":1e400}`))
	f.Add([]byte(`{}`), "device:status", []byte(`{"socket":{}}`))
	f.Add([]byte(`{}`), "signal", []byte(`{"to":"x","description":{"type":"offer","sdp":"`+strings.Repeat("s", 17<<10)+`"}}`))
	f.Add([]byte(`{}`), "signal", []byte(`{"to":"x","candidate":{"candidate":"`+strings.Repeat("c", 2000)+`"}}`))
	f.Add([]byte(`{}`), "signal", []byte(`{"to":"x","candidate":{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host"}}`))
	f.Fuzz(func(t *testing.T, authRaw []byte, event string, arg []byte) {
		p, err := h.authenticate(json.RawMessage(authRaw))
		if err == nil {
			okDev := p.Role == RoleDevice && strings.Contains(string(authRaw), tok)
			okCus := p.Role == RoleCustomer && strings.Contains(string(authRaw), inv.Code)
			if !okDev && !okCus {
				t.Fatalf("accepted %q as %+v", authRaw, p)
			}
		}
		// Drive the room state directly (no loop goroutine in fuzzing).
		ts := newTestState()
		dev := ts.device("s-dev", "r1")
		a, _ := ts.customer(t, "s-a", "r1")
		q, _ := ts.customer(t, "s-q", "r1")
		dev.take()
		a.take()
		q.take()
		for _, from := range []string{"s-dev", "s-a", "s-q"} {
			var ack ackRec
			switch event {
			case "signal":
				if s, code := checkSignal(arg); code == "" {
					s.To = ts.uid("s-q")
					ts.signal(from, s, ack.ack())
				}
			case "room:join":
				var req struct {
					RoomID string `json:"roomId"`
				}
				if decodeArg(arg, &req) == nil {
					ts.join(from, req.RoomID, ack.ack())
				}
			case "call:ended":
				var ev signaling.RoomEvent
				if decodeArg(arg, &ev) == nil {
					ts.callEnded(from, ev, ack.ack())
				}
			}
		}
		for _, e := range q.take() {
			if e.event == "signal" {
				t.Fatal("signal reached a waiting customer")
			}
		}
		if event != "signal" {
			return
		}
		// The bounds (issue 12): a flood of this signal from the customer
		// in the call forwards nothing above the size bounds, at most the
		// burst at one instant, and past the strikes closes the sender.
		ts.signalRate, ts.signalBurst, ts.signalStrikes = 20, 60, 40
		dev.full = len(arg)%3 == 0 // sometimes a receiver that does not keep up
		refused := 0
		for range 150 {
			s, code := checkSignal(arg)
			if code != "" {
				if code == codeTooLarge {
					ts.signalRefused("s-a", "too_large", code, nil)
					refused++
				}
				continue
			}
			s.To = "dev-r1"
			var ack ackRec
			ts.signal("s-a", s, ack.ack())
			if c := ack.code(); c == codeRateLimited {
				refused++
			}
		}
		got := 0
		for _, e := range dev.take() {
			if e.event != "signal" {
				continue
			}
			got++
			s := e.arg.(signaling.Signal)
			if (s.Description != nil && len(s.Description.SDP) > maxSDP) || (s.Candidate != nil && len(s.Candidate.Candidate) > maxCandidate) {
				t.Fatal("an oversize signal was forwarded")
			}
		}
		if got > 60 {
			t.Fatalf("%d signals forwarded at one instant (burst 60)", got)
		}
		a.mu.Lock()
		closed := a.closed
		a.mu.Unlock()
		if closed != (refused > 40) {
			t.Fatalf("%d refusals, sender closed %v", refused, closed)
		}
		if dev.closed {
			t.Fatal("the receiver was closed")
		}
	})
}
