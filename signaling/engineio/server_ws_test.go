package engineio_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"tether/signaling/engineio"
)

// rawWS is a websocket client that writes frames as given, so tests can
// send what a well-behaved library never would.
type rawWS struct {
	t  testing.TB
	c  net.Conn
	br io.Reader
}

func dialRaw(t testing.TB, r *recorder) *rawWS {
	t.Helper()
	u := "ws" + strings.TrimPrefix(r.url("transport=websocket"), "http")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rw := &rawWS{t: t, c: c, br: c}
	if br != nil {
		rw.br = io.MultiReader(br, c)
	}
	return rw
}

// frame writes one masked frame (clients mask, RFC 6455 5.1).
func (w *rawWS) frame(op ws.OpCode, fin bool, p string) {
	w.t.Helper()
	f := ws.MaskFrame(ws.NewFrame(op, fin, []byte(p)))
	if err := ws.WriteFrame(w.c, f); err != nil {
		w.t.Fatal(err)
	}
}

// next reads the server's next frame.
func (w *rawWS) next() (ws.OpCode, string) {
	w.t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(w.br)
	if err != nil {
		w.t.Fatal(err)
	}
	return f.Header.OpCode, string(f.Payload)
}

// closeCode reads frames until a close frame and returns its code.
func (w *rawWS) closeCode() ws.StatusCode {
	w.t.Helper()
	for {
		op, p := w.next()
		if op == ws.OpClose {
			code, _ := ws.ParseCloseFrameData([]byte(p))
			return code
		}
	}
}

// open reads the open packet and returns the sid.
func (w *rawWS) open() string {
	w.t.Helper()
	op, p := w.next()
	if op != ws.OpText || !strings.HasPrefix(p, "0{") {
		w.t.Fatalf("open: %v %q", op, p)
	}
	hs, err := engineio.ParseHandshake([]byte(p[1:]))
	if err != nil {
		w.t.Fatal(err)
	}
	return hs.SID
}

// A message in fragments with a ping between them arrives whole, and the
// ping gets its pong at once (RFC 6455 5.4, 5.5.2).
func TestServerWebSocketFragmentsAndPing(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{})
	w := dialRaw(t, r)
	sid := w.open()
	w.frame(ws.OpText, false, "4he")
	w.frame(ws.OpPing, true, "are you there")
	if op, p := w.next(); op != ws.OpPong || p != "are you there" {
		t.Fatalf("got %v %q, want the pong", op, p)
	}
	w.frame(ws.OpContinuation, false, "ll")
	w.frame(ws.OpContinuation, true, "o")
	w.frame(ws.OpBinary, true, "\x01\x02")
	r.wait("2 messages", func() bool { return len(r.bySID[sid]) == 2 })
	if got := r.bySID[sid]; string(got[0].Data) != "hello" || !got[1].Binary || string(got[1].Data) != "\x01\x02" {
		t.Fatalf("messages %+v", got)
	}
	// A close frame is answered and ends the session as a transport close.
	w.frame(ws.OpClose, true, string(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	if code := w.closeCode(); code != ws.StatusNormalClosure {
		t.Fatalf("close %d", code)
	}
	if reason := r.waitClosed(sid); reason != engineio.ReasonTransportClose {
		t.Fatalf("reason %q", reason)
	}
}

// Frames that break RFC 6455 fail the connection with 1002, a message
// above maxPayload (fragments counted together) with 1009.
func TestServerWebSocketProtocolErrors(t *testing.T) {
	cases := []struct {
		name string
		send func(w *rawWS)
		code ws.StatusCode
	}{
		{"unmasked", func(w *rawWS) {
			_ = ws.WriteFrame(w.c, ws.NewTextFrame([]byte("4x")))
		}, ws.StatusProtocolError},
		{"reserved bits", func(w *rawWS) {
			f := ws.MaskFrame(ws.NewTextFrame([]byte("4x")))
			f.Header.Rsv = 4
			_ = ws.WriteFrame(w.c, f)
		}, ws.StatusProtocolError},
		{"reserved opcode", func(w *rawWS) { w.frame(0x3, true, "x") }, ws.StatusProtocolError},
		{"fragmented ping", func(w *rawWS) { w.frame(ws.OpPing, false, "x") }, ws.StatusProtocolError},
		{"long ping", func(w *rawWS) { w.frame(ws.OpPing, true, strings.Repeat("p", 126)) }, ws.StatusProtocolError},
		{"stray continuation", func(w *rawWS) { w.frame(ws.OpContinuation, true, "x") }, ws.StatusProtocolError},
		{"message in a message", func(w *rawWS) {
			w.frame(ws.OpText, false, "4a")
			w.frame(ws.OpText, true, "4b")
		}, ws.StatusProtocolError},
		{"too large in fragments", func(w *rawWS) {
			w.frame(ws.OpText, false, "4"+strings.Repeat("a", 600))
			w.frame(ws.OpContinuation, true, strings.Repeat("a", 600))
		}, ws.StatusMessageTooBig},
		{"not UTF-8", func(w *rawWS) { w.frame(ws.OpText, true, "4\xff") }, 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t, engineio.ServerConfig{MaxPayload: 1000})
			w := dialRaw(t, r)
			sid := w.open()
			tc.send(w)
			if code := w.closeCode(); code != tc.code {
				t.Fatalf("close code %d, want %d", code, tc.code)
			}
			r.waitClosed(sid)
			if n := len(r.bySID[sid]); n != 0 {
				t.Fatalf("%d messages taken", n)
			}
		})
	}
}

// A client that sends its first frame in the same segment as the
// handshake: the HTTP server has read it already, where epoll cannot see
// it, and it must still be taken.
func TestServerWebSocketPipelinedFirstFrame(t *testing.T) {
	leakCheck(t)
	r := newRecorder(t, engineio.ServerConfig{})
	c, err := net.Dial("tcp", strings.TrimPrefix(r.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	var frame strings.Builder
	_ = ws.WriteFrame(&frame, ws.MaskFrame(ws.NewTextFrame([]byte("4early"))))
	if _, err := c.Write([]byte(req + frame.String())); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := br.ReadString('\n')
	if err != nil || !strings.Contains(resp, "101") {
		t.Fatalf("handshake answer %q %v", resp, err)
	}
	r.wait("the early message", func() bool { return len(r.msgs) == 1 })
	if string(r.msgs[0].Data) != "early" {
		t.Fatalf("got %q", r.msgs[0].Data)
	}
}

// Idle websocket sessions wait in the poller: no goroutine each (issue 17
// §4), and every one of them still takes its next message.
func TestServerIdleWebSocketsHaveNoGoroutine(t *testing.T) {
	r := newRecorder(t, engineio.ServerConfig{})
	const n = 200
	conns := make([]*rawWS, n)
	sids := make([]string, n)
	conns[0] = dialRaw(t, r)
	sids[0] = conns[0].open()
	before := runtime.NumGoroutine()
	for i := 1; i < n; i++ {
		conns[i] = dialRaw(t, r)
		sids[i] = conns[i].open()
	}
	// httptest's server keeps nothing per hijacked connection, and the
	// clients here have no goroutines: what grows is the server's.
	if g := runtime.NumGoroutine() - before; g > n/10 {
		t.Fatalf("%d idle websocket sessions added %d goroutines", n-1, g)
	}
	for _, w := range conns {
		w.frame(ws.OpText, true, "4ping")
	}
	r.wait("every session's message", func() bool { return len(r.msgs) == n })
	for _, sid := range sids {
		if len(r.bySID[sid]) != 1 {
			t.Fatalf("session %s got %d messages", sid, len(r.bySID[sid]))
		}
	}
}

// A session keeps of its handshake what an application reads later (the
// client's address through a proxy, origin, user agent, query), not the
// transport's headers (issue 17 §4: the whole request was a quarter of an
// idle socket's heap).
func TestServerSessionKeepsTheHandshakeItNeeds(t *testing.T) {
	r := newRecorder(t, engineio.ServerConfig{})
	u := "ws" + strings.TrimPrefix(r.url("transport=websocket&device=7"), "http")
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP{"X-Forwarded-For": {"203.0.113.9"}, "User-Agent": {"tetherd/1"}, "Accept-Language": {"tr"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, _, err := d.Dial(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.wait("the session", func() bool { return len(r.opened) == 1 })
	req := r.opened[0].Request()
	if req.Header.Get("X-Forwarded-For") != "203.0.113.9" || req.Header.Get("User-Agent") != "tetherd/1" ||
		req.URL.Query().Get("device") != "7" || req.RemoteAddr == "" || req.Method != "GET" {
		t.Fatalf("kept %+v", req)
	}
	for _, h := range []string{"Sec-Websocket-Key", "Accept-Language", "Upgrade"} {
		if v := req.Header.Get(h); v != "" {
			t.Fatalf("kept %s: %q", h, v)
		}
	}
}
