package socketio_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tether/signaling/socketio"
)

// FuzzServerPackets sends an arbitrary Socket.IO packet (optionally
// followed by one binary attachment) on a connected socket, then an event
// with an ack. The server must never crash; a packet our decoder rejects
// (or a text packet where an attachment was due) closes the connection;
// after any other packet the server still answers the ack.
func FuzzServerPackets(f *testing.F) {
	for _, s := range []string{`2["echo","x"]`, `21["echo",1]`, `3["late"]`, `31[]`, `51-["echo",{"_placeholder":true,"num":0}]`,
		`61-[{"_placeholder":true,"num":0}]`, `0`, `0/admin,`, `4{"message":"x"}`, `2`, `2[]`, `2[1]`, `2{}`, `9`, ``,
		`5999-[]`, `2/x,["a"]`, `2["echo"`, `21234567890123456789["e"]`, `3[`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	srv, err := socketio.NewServer(socketio.ServerConfig{Logger: slog.New(slog.DiscardHandler)})
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
	f.Fuzz(func(t *testing.T, pkt []byte, attach bool) {
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
		_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		if m, err := read(); err != nil || !strings.HasPrefix(m, `40{"sid":`) {
			t.Fatalf("connect reply %q %v", m, err)
		}
		_ = ws.WriteMessage(websocket.TextMessage, append([]byte("4"), pkt...))
		if attach {
			_ = ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`4299999["echo","m"]`))
		var d socketio.Decoder
		p, err := d.AddText(pkt)
		wantClose := err != nil
		if err == nil && p == nil && !attach {
			wantClose = true // the marker arrives where an attachment was due
		}
		switch {
		case err == nil && p == nil && attach:
			p, _ = d.AddBinary([]byte{1, 2, 3})
			if p == nil {
				wantClose = true // more attachments were announced than sent
			}
		case err == nil && p != nil && attach:
			wantClose = true // an attachment nobody announced
		}
		if p != nil && (p.Type == socketio.Disconnect) && p.Namespace == "/" && !wantClose {
			return // the socket left: the marker is ignored
		}
		for {
			m, err := read()
			if err != nil {
				if !wantClose {
					t.Fatalf("packet %q attach=%v: connection lost: %v", pkt, attach, err)
				}
				return
			}
			if m == `4399999["m"]` {
				if wantClose {
					t.Fatalf("packet %q attach=%v: still answering", pkt, attach)
				}
				return
			}
		}
	})
}
