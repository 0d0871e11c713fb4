package engineio_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"tether/signaling/engineio"
)

// FuzzServerPollingPost feeds arbitrary polling POST bodies to an open
// session. The server must never crash, must answer 200 exactly when the
// body is a well-formed payload of packets a client may send, and must
// close the session otherwise.
func FuzzServerPollingPost(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b", "bAQID", "3", "3\x1e4x", "1", "2", "2probe", "9", "",
		"\x1e", "4\x1e", "\x1e4", "b!!!", "b", "6", "5", "0{}", "4" + strings.Repeat("é", 100), "4\x00\xff"} {
		f.Add([]byte(s))
	}
	r := newRecorder(f, engineio.ServerConfig{MaxPayload: 4096})
	client := r.hs.Client()
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := client.Get(r.url("transport=polling"))
		if err != nil {
			t.Fatal(err)
		}
		open, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		hs, err := engineio.ParseHandshake(open[1:])
		if err != nil {
			t.Fatal(err)
		}
		resp, err = client.Post(r.url("transport=polling&sid="+hs.SID), "text/plain;charset=UTF-8", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		valid := len(body) <= 4096 && engineio.DecodePayload(body, func(p engineio.Packet) error {
			switch p.Type {
			case engineio.Message, engineio.Pong, engineio.Noop, engineio.Upgrade:
				return nil
			}
			return engineio.ErrMalformed
		}) == nil
		if valid != (resp.StatusCode == http.StatusOK) {
			t.Fatalf("body %q: status %d, valid=%v", body, resp.StatusCode, valid)
		}
		s := r.srv.Session(hs.SID)
		if !valid {
			if s != nil && s.Reason() == "" {
				t.Fatalf("body %q: session still open after %d", body, resp.StatusCode)
			}
		}
		if s != nil {
			_ = s.Close()
		}
		// Take the close packet so the session is forgotten at once.
		if resp, err = client.Get(r.url("transport=polling&sid=" + hs.SID)); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// FuzzServerWebSocketFrames sends an arbitrary frame (text or binary) on a
// websocket session, then a marker message. The server must never crash:
// a binary frame or a text frame holding a message is delivered, a
// malformed or forbidden packet closes the session (and the marker is
// never delivered).
func FuzzServerWebSocketFrames(f *testing.F) {
	for _, s := range []string{"4hello", "bAQID", "3", "1", "2", "2probe", "5", "6", "9", "", "0{}", "4", "b!!", "4\x00\xff"} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte{0, 1, 2}, true)
	f.Add([]byte{}, true)
	r := newRecorder(f, engineio.ServerConfig{MaxPayload: 4096})
	f.Fuzz(func(t *testing.T, frame []byte, binary bool) {
		u := "ws" + strings.TrimPrefix(r.url("transport=websocket"), "http")
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, open, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		hs, err := engineio.ParseHandshake(open[1:])
		if err != nil {
			t.Fatal(err)
		}
		mt := websocket.TextMessage
		if binary {
			mt = websocket.BinaryMessage
		}
		_ = ws.WriteMessage(mt, frame)
		_ = ws.WriteMessage(websocket.TextMessage, []byte("4\x00marker"))
		keeps := binary
		// RFC 6455 section 8.1: a text frame that is not UTF-8 fails the
		// connection with close code 1007 (issue 12).
		badText := !binary && !utf8.Valid(frame)
		if !binary && !badText {
			if p, err := engineio.DecodeText(frame); err == nil {
				switch p.Type {
				case engineio.Message, engineio.Pong, engineio.Noop, engineio.Upgrade:
					keeps = len(frame) <= 4096
				}
			}
		}
		var got []engineio.Packet
		r.waitOn(t, "marker or close", func() bool {
			got = r.bySID[hs.SID]
			if _, closed := r.closed[hs.SID]; closed {
				return true
			}
			return len(got) > 0 && string(got[len(got)-1].Data) == "\x00marker"
		})
		r.mu.Lock()
		_, closed := r.closed[hs.SID]
		delete(r.bySID, hs.SID)
		r.mu.Unlock()
		if closed == keeps {
			t.Fatalf("frame %q binary=%v: closed=%v", frame, binary, closed)
		}
		if badText {
			var err error
			for err == nil {
				_, _, err = ws.ReadMessage()
			}
			if !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
				t.Fatalf("frame %q (not UTF-8): %v, want close 1007", frame, err)
			}
		}
		if keeps {
			want := 1
			if binary || frame[0] == '4' || frame[0] == 'b' {
				want = 2
			}
			if len(got) != want {
				t.Fatalf("frame %q: delivered %d messages, want %d", frame, len(got), want)
			}
			_ = r.srv.Session(hs.SID).Close()
			r.waitClosedOn(t, hs.SID)
		}
		r.mu.Lock()
		delete(r.closed, hs.SID)
		r.mu.Unlock()
	})
}
