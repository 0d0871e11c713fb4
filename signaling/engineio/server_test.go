package engineio_test

// Black-box tests of the Engine.IO server at the protocol level: raw HTTP
// requests and raw websockets, with an injected clock for heartbeats.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/internal/testenv"
	"tether/signaling/engineio"
)

// recorder is a Server on an httptest listener that records what it sees.
type recorder struct {
	t   testing.TB
	srv *engineio.Server
	hs  *httptest.Server
	clk *clockwork.FakeClock

	mu      sync.Mutex
	msgs    []engineio.Packet
	bySID   map[string][]engineio.Packet
	panicOn string
	closed  map[string]engineio.CloseReason
	opened  []*engineio.Session
	changes testenv.Changes
}

func newRecorder(t testing.TB, cfg engineio.ServerConfig) *recorder {
	t.Helper()
	r := &recorder{t: t, clk: clockwork.NewFakeClockAt(time.Unix(0, 0)), closed: map[string]engineio.CloseReason{}, bySID: map[string][]engineio.Packet{}}
	if cfg.Clock == nil {
		cfg.Clock = r.clk
	}
	if !testing.Verbose() {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.OnOpen = func(s *engineio.Session) {
		r.mu.Lock()
		r.opened = append(r.opened, s)
		r.note()
		r.mu.Unlock()
	}
	cfg.OnMessage = func(s *engineio.Session, p engineio.Packet) {
		p.Data = append([]byte(nil), p.Data...)
		r.mu.Lock()
		if r.panicOn != "" && string(p.Data) == r.panicOn {
			r.mu.Unlock()
			panic("handler bug")
		}
		r.msgs = append(r.msgs, p)
		r.bySID[s.ID()] = append(r.bySID[s.ID()], p)
		r.note()
		r.mu.Unlock()
	}
	cfg.OnClose = func(s *engineio.Session, reason engineio.CloseReason) {
		r.mu.Lock()
		r.closed[s.ID()] = reason
		r.note()
		r.mu.Unlock()
	}
	srv, err := engineio.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.hs = httptest.NewServer(srv)
	t.Cleanup(func() {
		r.hs.CloseClientConnections()
		_ = srv.Close()
		r.hs.Close()
	})
	return r
}

func (r *recorder) note() { r.changes.Note() }

func (r *recorder) wait(what string, ok func() bool) {
	r.t.Helper()
	r.waitOn(r.t, what, ok)
}

func (r *recorder) waitOn(t testing.TB, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.changes.Wait(ctx, &r.mu, what, ok); err != nil {
		t.Fatalf("timed out %v", err)
	}
}

func (r *recorder) waitClosed(sid string) engineio.CloseReason {
	r.t.Helper()
	return r.waitClosedOn(r.t, sid)
}

func (r *recorder) waitClosedOn(t testing.TB, sid string) engineio.CloseReason {
	t.Helper()
	var reason engineio.CloseReason
	r.waitOn(t, "close of "+sid, func() bool {
		var ok bool
		reason, ok = r.closed[sid]
		return ok
	})
	return reason
}

func (r *recorder) url(q string) string { return r.hs.URL + "/socket.io/?EIO=4&" + q }

func (r *recorder) do(method, q string, body string, hdr map[string]string) (int, string, http.Header) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url(q), strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.hs.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// open does a polling handshake and returns the handshake.
func (r *recorder) open() engineio.Handshake {
	r.t.Helper()
	code, body, _ := r.do("GET", "transport=polling", "", nil)
	if code != 200 || !strings.HasPrefix(body, "0{") {
		r.t.Fatalf("handshake %d %q", code, body)
	}
	hs, err := engineio.ParseHandshake([]byte(body[1:]))
	if err != nil {
		r.t.Fatal(err)
	}
	return hs
}

func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func TestServerHandshakeAndErrors(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{})
	hs := r.open()
	if len(hs.SID) != 20 || len(hs.Upgrades) != 1 || hs.Upgrades[0] != "websocket" ||
		hs.PingInterval != 25000 || hs.PingTimeout != 20000 || hs.MaxPayload != 1_000_000 {
		t.Fatalf("handshake %+v", hs)
	}
	tests := []struct {
		name, method, q string
		status, code    int
	}{
		{"no EIO", "GET", "", 400, 5},
		{"bad transport", "GET", "transport=carrier-pigeon", 400, 0},
		{"unknown sid", "GET", "transport=polling&sid=nope", 400, 1},
		{"POST handshake", "POST", "transport=polling", 400, 2},
		{"websocket without upgrade", "GET", "transport=websocket", 400, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := r.do(tc.method, tc.q, "", nil)
			if tc.name == "no EIO" {
				resp, err := r.hs.Client().Get(r.hs.URL + "/socket.io/?EIO=3&transport=polling")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, body = resp.StatusCode, string(b)
			}
			var e struct{ Code int }
			if code != tc.status || json.Unmarshal([]byte(body), &e) != nil || e.Code != tc.code {
				t.Fatalf("%d %s, want %d code %d", code, body, tc.status, tc.code)
			}
		})
	}
	resp, err := r.hs.Client().Get(r.hs.URL + "/elsewhere/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("other path: %d", resp.StatusCode)
	}
}

func TestServerPollingBatchingAndBinary(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{MaxPayload: 100})
	hs := r.open()
	s := r.srv.Session(hs.SID)
	big := bytes.Repeat([]byte("x"), 40)
	for _, p := range []engineio.Packet{
		{Type: engineio.Message, Data: big},
		{Type: engineio.Message, Data: []byte{0, 1, 2}, Binary: true},
		{Type: engineio.Message, Data: big},
	} {
		if err := s.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(engineio.Packet{Type: engineio.Message, Data: bytes.Repeat([]byte("y"), 200)}); err == nil {
		t.Fatal("a packet above maxPayload was accepted")
	}
	// 41 + 1 + 5 + 1 + 41 = 89 ≤ 100: one GET takes all three; with the
	// next packets the bound splits them.
	code, body, hdr := r.do("GET", "transport=polling&sid="+hs.SID, "", nil)
	want := "4" + string(big) + "\x1ebAAEC\x1e4" + string(big)
	if code != 200 || body != want || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %d %q", code, body)
	}
	for range 3 {
		_ = s.Send(engineio.Packet{Type: engineio.Message, Data: big})
	}
	_, body, _ = r.do("GET", "transport=polling&sid="+hs.SID, "", nil)
	if strings.Count(body, "\x1e") != 1 {
		t.Fatalf("first batch %q: want two packets within maxPayload", body)
	}
	_, body, _ = r.do("GET", "transport=polling&sid="+hs.SID, "", nil)
	if body != "4"+string(big) {
		t.Fatalf("second batch %q", body)
	}
	// POST: text and base64 binary, in order.
	code, body, _ = r.do("POST", "transport=polling&sid="+hs.SID, "4hello\x1ebAQID\x1e3", nil)
	if code != 200 || body != "ok" {
		t.Fatalf("POST %d %q", code, body)
	}
	r.wait("2 messages", func() bool { return len(r.msgs) == 2 })
	if string(r.msgs[0].Data) != "hello" || !r.msgs[1].Binary || !bytes.Equal(r.msgs[1].Data, []byte{1, 2, 3}) {
		t.Fatalf("messages %+v", r.msgs)
	}
}

func TestServerPollingViolationsClose(t *testing.T) {
	leakCheck(t)
	tests := []struct {
		name   string
		do     func(r *recorder, sid string) (int, string)
		status int
		reason engineio.CloseReason
	}{
		{"oversize POST", func(r *recorder, sid string) (int, string) {
			c, b, _ := r.do("POST", "transport=polling&sid="+sid, "4"+strings.Repeat("z", 200), nil)
			return c, b
		}, 413, engineio.ReasonTransportError},
		{"malformed POST", func(r *recorder, sid string) (int, string) {
			c, b, _ := r.do("POST", "transport=polling&sid="+sid, "9nine", nil)
			return c, b
		}, 400, engineio.ReasonParseError},
		{"ping from client", func(r *recorder, sid string) (int, string) {
			c, b, _ := r.do("POST", "transport=polling&sid="+sid, "2", nil)
			return c, b
		}, 400, engineio.ReasonParseError},
		{"close packet", func(r *recorder, sid string) (int, string) {
			c, b, _ := r.do("POST", "transport=polling&sid="+sid, "1", nil)
			return c, b
		}, 400, engineio.ReasonTransportClose},
		{"overlapping GET", func(r *recorder, sid string) (int, string) {
			type res struct {
				code int
				body string
			}
			ch := make(chan res, 2)
			for range 2 {
				go func() {
					c, b, _ := r.do("GET", "transport=polling&sid="+sid, "", nil)
					ch <- res{c, b}
				}()
			}
			// One GET is held; the other overlaps it: 400, and the held
			// one is answered with the close packet.
			a, b := <-ch, <-ch
			if a.code != 400 {
				a, b = b, a
			}
			if b.code != 200 || b.body != "1" {
				r.t.Errorf("held GET answered %d %q, want the close packet", b.code, b.body)
			}
			return a.code, a.body
		}, 400, engineio.ReasonTransportError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t, engineio.ServerConfig{MaxPayload: 100})
			sid := r.open().SID
			code, body := tc.do(r, sid)
			if code != tc.status {
				t.Fatalf("status %d %q, want %d", code, body, tc.status)
			}
			if tc.status == 413 && !strings.Contains(body, "maxPayload 100") {
				t.Errorf("413 body %q is not clear", body)
			}
			if got := r.waitClosed(sid); got != tc.reason {
				t.Fatalf("closed with %q, want %q", got, tc.reason)
			}
			if c, _, _ := r.do("GET", "transport=polling&sid="+sid, "", nil); c != 400 {
				t.Fatalf("session still answers: %d", c)
			}
		})
	}
}

func TestServerHeartbeat(t *testing.T) {
	leakCheck(t)
	for _, answer := range []bool{true, false} {
		t.Run(map[bool]string{true: "pong keeps it", false: "missing pong closes"}[answer], func(t *testing.T) {
			r := newRecorder(t, engineio.ServerConfig{PingInterval: time.Second, PingTimeout: 500 * time.Millisecond})
			sid := r.open().SID
			got := make(chan string, 1)
			go func() {
				_, b, _ := r.do("GET", "transport=polling&sid="+sid, "", nil)
				got <- b
			}()
			r.clk.Advance(time.Second)
			if b := <-got; b != "2" {
				t.Fatalf("held GET %q, want a ping", b)
			}
			if answer {
				if c, _, _ := r.do("POST", "transport=polling&sid="+sid, "3", nil); c != 200 {
					t.Fatalf("pong POST %d", c)
				}
			}
			r.clk.Advance(600 * time.Millisecond)
			if !answer {
				if reason := r.waitClosed(sid); reason != engineio.ReasonPingTimeout {
					t.Fatalf("reason %q", reason)
				}
				return
			}
			if st := r.srv.Stats(); st.Sessions != 1 {
				t.Fatalf("session gone after a pong: %+v", st)
			}
			_ = r.srv.Session(sid).Close()
			r.waitClosed(sid)
		})
	}
}

func dialWS(t testing.TB, r *recorder, q string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(r.url("transport=websocket"+q), "http")
	return websocket.DefaultDialer.Dial(u, hdr)
}

func readText(t testing.TB, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if mt != websocket.TextMessage {
		return "binary:" + string(b)
	}
	return string(b)
}

func TestServerWebSocket(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{MaxPayload: 1000, PingInterval: time.Second, PingTimeout: time.Second})
	ws, _, err := dialWS(t, r, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	open := readText(t, ws)
	hs, err := engineio.ParseHandshake([]byte(open[1:]))
	if err != nil || len(hs.Upgrades) != 0 {
		t.Fatalf("open %q %v", open, err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("4hi"))
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte{9, 8})
	r.wait("2 messages", func() bool { return len(r.msgs) == 2 })
	if string(r.msgs[0].Data) != "hi" || !r.msgs[1].Binary || !bytes.Equal(r.msgs[1].Data, []byte{9, 8}) {
		t.Fatalf("messages %+v", r.msgs)
	}
	s := r.srv.Session(hs.SID)
	if s.Transport() != "websocket" {
		t.Fatal(s.Transport())
	}
	_ = s.Send(engineio.Packet{Type: engineio.Message, Data: []byte("text")}, engineio.Packet{Type: engineio.Message, Data: []byte{7}, Binary: true})
	if a, b := readText(t, ws), readText(t, ws); a != "4text" || b != "binary:\x07" {
		t.Fatalf("got %q %q", a, b)
	}
	// Heartbeat on the injected clock.
	r.clk.Advance(time.Second)
	if p := readText(t, ws); p != "2" {
		t.Fatalf("want ping, got %q", p)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
	r.wait("pong handled", func() bool { return true })
	// Above maxPayload: the message is refused and the session closed.
	_ = ws.WriteMessage(websocket.TextMessage, append([]byte("4"), bytes.Repeat([]byte("a"), 2000)...))
	if reason := r.waitClosed(hs.SID); reason != engineio.ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
				t.Logf("close: %v", err)
			}
			break
		}
	}
}

func TestServerWebSocketGracefulCloseAndShutdown(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{})
	ws, _, err := dialWS(t, r, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs, _ := engineio.ParseHandshake([]byte(readText(t, ws)[1:]))
	s := r.srv.Session(hs.SID)
	_ = s.Send(engineio.Packet{Type: engineio.Message, Data: []byte("last words")})
	_ = s.Close()
	if got := readText(t, ws); got != "4last words" {
		t.Fatalf("queued packet lost on close: %q", got)
	}
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("want a normal close frame, got %v", err)
	}
	if reason := r.waitClosed(hs.SID); reason != engineio.ReasonForcedClose {
		t.Fatalf("reason %q", reason)
	}
	// Server.Close ends the others with "server shutting down".
	ws2, _, err := dialWS(t, r, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws2.Close()
	hs2, _ := engineio.ParseHandshake([]byte(readText(t, ws2)[1:]))
	_ = r.srv.Close()
	if reason := r.waitClosed(hs2.SID); reason != engineio.ReasonServerShutdown {
		t.Fatalf("reason %q", reason)
	}
	if code, _, _ := r.do("GET", "transport=polling", "", nil); code != 503 {
		t.Fatalf("handshake after Close: %d", code)
	}
}

func TestServerUpgrade(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{})
	sid := r.open().SID
	held := make(chan string, 1)
	go func() {
		_, b, _ := r.do("GET", "transport=polling&sid="+sid, "", nil)
		held <- b
	}()
	ws, _, err := dialWS(t, r, "&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// A second probe for the same session is refused while this one runs.
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if got := readText(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	if _, resp, err := dialWS(t, r, "&sid="+sid, nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("second probe accepted: %v", err)
	}
	// The held GET is flushed with a noop so the client can pause.
	if b := <-held; b != "6" {
		t.Fatalf("held GET %q, want noop", b)
	}
	s := r.srv.Session(sid)
	_ = s.Send(engineio.Packet{Type: engineio.Message, Data: []byte("queued during upgrade")})
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
	if got := readText(t, ws); got != "4queued during upgrade" {
		t.Fatalf("after upgrade %q", got)
	}
	if s.Transport() != "websocket" || r.srv.Stats().WebSocket != 1 {
		t.Fatalf("transport %q stats %+v", s.Transport(), r.srv.Stats())
	}
	if c, _, _ := r.do("GET", "transport=polling&sid="+sid, "", nil); c != 400 {
		t.Fatalf("polling after upgrade: %d", c)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("4over ws"))
	r.wait("message over ws", func() bool { return len(r.msgs) == 1 && string(r.msgs[0].Data) == "over ws" })
}

func TestServerCORSAndOrigin(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{AllowedOrigins: []string{"https://shop.example"}})
	code, _, hdr := r.do("OPTIONS", "transport=polling", "", map[string]string{
		"Origin": "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
	if code != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		hdr.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") ||
		hdr.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Fatalf("preflight %d %v", code, hdr)
	}
	code, body, hdr := r.do("GET", "transport=polling", "", map[string]string{"Origin": "https://shop.example"})
	if code != 200 || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" || !strings.HasPrefix(body, "0{") {
		t.Fatalf("allowed origin %d %v", code, hdr)
	}
	code, _, hdr = r.do("GET", "transport=polling", "", map[string]string{"Origin": "https://evil.example"})
	if code != 403 || hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin %d %v", code, hdr)
	}
	// Same host is always fine; so is no Origin (devices).
	if code, _, _ := r.do("GET", "transport=polling", "", map[string]string{"Origin": r.hs.URL}); code != 200 {
		t.Fatalf("same origin %d", code)
	}
	if _, resp, err := dialWS(t, r, "", http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("websocket from a foreign origin: %v", err)
	}
	ws, _, err := dialWS(t, r, "", http.Header{"Origin": {"https://shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
}

func TestServerRateLimit(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{RateLimit: 10, RateBurst: 10, MaxRateDelay: time.Nanosecond})
	sid := r.open().SID
	ten := strings.TrimSuffix(strings.Repeat("4m\x1e", 10), "\x1e")
	if c, b, _ := r.do("POST", "transport=polling&sid="+sid, ten, nil); c != 200 {
		t.Fatalf("burst within the limit: %d %s", c, b)
	}
	if c, _, _ := r.do("POST", "transport=polling&sid="+sid, "4m", nil); c != 429 {
		t.Fatalf("above the limit: %d", c)
	}
	if reason := r.waitClosed(sid); reason != engineio.ReasonRateLimited {
		t.Fatalf("reason %q", reason)
	}
	// Tokens come back with time.
	sid = r.open().SID
	if c, _, _ := r.do("POST", "transport=polling&sid="+sid, ten, nil); c != 200 {
		t.Fatal(c)
	}
	r.clk.Advance(time.Second)
	if c, _, _ := r.do("POST", "transport=polling&sid="+sid, ten, nil); c != 200 {
		t.Fatalf("after a second: %d", c)
	}
}

func TestServerBufferFull(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{MaxPayload: 100, MaxBuffered: 250})
	hs := r.open()
	s := r.srv.Session(hs.SID)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = s.Send(engineio.Packet{Type: engineio.Message, Data: bytes.Repeat([]byte("q"), 90)})
	}
	if err == nil || !strings.Contains(err.Error(), "buffer full") {
		t.Fatalf("err %v", err)
	}
	if reason := r.waitClosed(hs.SID); reason != engineio.ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestServerConfigValidation(t *testing.T) {
	for _, cfg := range []engineio.ServerConfig{
		{Transports: []string{"carrier-pigeon"}},
		{AllowedOrigins: []string{"shop.example"}},
		{RateLimit: -1},
	} {
		if _, err := engineio.NewServer(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
	_ = context.Background
}

func TestServerHandlerPanicCostsOneSession(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{})
	ws, _, err := dialWS(t, r, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs, _ := engineio.ParseHandshake([]byte(readText(t, ws)[1:]))
	r.mu.Lock()
	r.panicOn = "boom"
	r.mu.Unlock()
	_ = ws.WriteMessage(websocket.TextMessage, []byte("4boom"))
	if reason := r.waitClosed(hs.SID); reason != engineio.ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
	// The server still serves.
	r.open()
}
