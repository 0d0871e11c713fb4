package socketio_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"tether/signaling/engineio"
	"tether/signaling/socketio"
)

// FuzzServerPackets sends an arbitrary Socket.IO packet followed by up to
// three binary attachments of up to 2 KiB, on a connected socket or
// (connect false) before any CONNECT, then an event with an ack. The
// server must never crash; a packet our decoder rejects, a text packet
// where an attachment was due, attachments above maxPayload in total, and
// anything binary before CONNECT close the connection (issue 12); after
// any other packet the server still answers the ack.
func FuzzServerPackets(f *testing.F) {
	for _, s := range []string{`2["echo","x"]`, `21["echo",1]`, `3["late"]`, `31[]`, `51-["echo",{"_placeholder":true,"num":0}]`,
		`61-[{"_placeholder":true,"num":0}]`, `0`, `0/admin,`, `4{"message":"x"}`, `2`, `2[]`, `2[1]`, `2{}`, `9`, ``,
		`5999-[]`, `2/x,["a"]`, `2["echo"`, `21234567890123456789["e"]`, `3[`, `53-["echo",{"_placeholder":true,"num":0}]`} {
		f.Add([]byte(s), uint8(0), uint16(0), true)
		f.Add([]byte(s), uint8(1), uint16(3), true)
		f.Add([]byte(s), uint8(1), uint16(3), false)
	}
	f.Add([]byte(`53-["echo",{"_placeholder":true,"num":0}]`), uint8(3), uint16(2000), true)
	f.Add([]byte(`53-["echo",{"_placeholder":true,"num":0}]`), uint8(3), uint16(1000), true)
	f.Add([]byte(`0`), uint8(0), uint16(0), false)
	const maxPayload = 4096
	srv, err := socketio.NewServer(socketio.ServerConfig{Logger: slog.New(slog.DiscardHandler),
		Engine: engineio.ServerConfig{MaxPayload: maxPayload}})
	if err != nil {
		f.Fatal(err)
	}
	srv.On("echo", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		if v, err := args.Values(); err == nil && ack != nil {
			ack(v...)
		}
	})
	hs := httptest.NewServer(srv)
	f.Cleanup(func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
	})
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	f.Fuzz(func(t *testing.T, pkt []byte, attachments uint8, size uint16, connect bool) {
		n, sz := int(attachments%4), int(size%2048)
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		read := func() (string, error) {
			_, b, err := ws.ReadMessage()
			return string(b), err
		}
		if _, err := read(); err != nil { // open
			t.Fatal(err)
		}
		if connect {
			_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
			if m, err := read(); err != nil || !strings.HasPrefix(m, `40{"sid":`) {
				t.Fatalf("connect reply %q %v", m, err)
			}
		}
		att := bytes.Repeat([]byte{1}, sz)
		_ = ws.WriteMessage(websocket.TextMessage, append([]byte("4"), pkt...))
		for range n {
			_ = ws.WriteMessage(websocket.BinaryMessage, att)
		}
		if !connect {
			_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`4299999["echo","m"]`))
		d := socketio.Decoder{MaxBytes: maxPayload}
		p, err := d.AddText(pkt)
		// A text frame that is not UTF-8 closes with 1007 (RFC 6455 8.1).
		wantClose := err != nil || len(pkt)+1 > maxPayload || !utf8.Valid(pkt)
		if !connect && len(pkt) > 0 && (pkt[0] == '5' || pkt[0] == '6') {
			wantClose = true // a binary packet before CONNECT
		}
		if !connect && !wantClose && n > 0 {
			// Binary before CONNECT, or (after a CONNECT in pkt) an
			// attachment nobody announced.
			wantClose = true
		}
		if connect && !wantClose {
			switch {
			case p == nil && n == 0:
				wantClose = true // the marker arrives where an attachment was due
			case p != nil && n > 0:
				wantClose = true // an attachment nobody announced
			case p == nil:
				for i := 0; i < n && !wantClose; i++ {
					if p != nil {
						wantClose = true // more attachments than announced
						break
					}
					if p, err = d.AddBinary(att); err != nil {
						wantClose = true // above maxPayload in total
					}
				}
				if p == nil {
					wantClose = true // fewer attachments than announced
				}
			}
		}
		if connect && p != nil && p.Type == socketio.Disconnect && p.Namespace == "/" && !wantClose {
			return // the socket left: the marker is ignored
		}
		for {
			m, err := read()
			if err != nil {
				if !wantClose {
					t.Fatalf("packet %q attachments=%d×%d connect=%v: connection lost: %v", pkt, n, sz, connect, err)
				}
				return
			}
			if m == `4399999["m"]` {
				if wantClose {
					t.Fatalf("packet %q attachments=%d×%d connect=%v: still answering", pkt, n, sz, connect)
				}
				return
			}
		}
	})
}
