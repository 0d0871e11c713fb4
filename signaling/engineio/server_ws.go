package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"tether/signaling/internal/netpoll"
)

// The server's websockets are framed with github.com/gobwas/ws rather than
// gorilla/websocket (which the client keeps): gobwas reads a frame straight
// from the connection, with no buffer of its own, so once a message is
// taken nothing is left where epoll cannot see it, and an idle socket can
// wait in the poller without a goroutine (issue 17 §4).

// errWSProtocol reports a frame that breaks RFC 6455 (unmasked, reserved
// bits or opcode, a bad control frame, a continuation out of place); the
// connection is failed with close code 1002.
var errWSProtocol = errors.New("engineio: websocket protocol error")

// errWSReadLimit reports a message above maxPayload; the connection is
// failed with close code 1009.
var errWSReadLimit = errors.New("engineio: websocket message above maxPayload")

// wsCloseError is a close frame from the peer (RFC 6455 section 5.5.1).
type wsCloseError struct {
	code   ws.StatusCode
	reason string
}

func (e *wsCloseError) Error() string {
	return fmt.Sprintf("engineio: websocket closed by the peer: %d %s", e.code, e.reason)
}

// wsConn is the server side of one websocket on a hijacked connection.
// Reads happen on one goroutine at a time (the session's reader: a probe
// handler, a poller callback or the TLS reader loop); writes from any
// goroutine, serialized by wmu so frames never interleave.
type wsConn struct {
	c     net.Conn
	pre   []byte // bytes read past the handshake by the HTTP server; the reader's
	limit int64  // maxPayload: the largest message taken

	wmu sync.Mutex // serializes frame writes

	hmu sync.Mutex      // guards h
	h   *netpoll.Handle // the poller registration, nil when read by a goroutine
}

// isWebSocketUpgrade is RFC 6455 section 4.2.1's Upgrade and Connection
// headers; the upgrader checks the rest.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// upgradeWS answers a websocket handshake: the origin is checked here (a
// foreign one gets 403 in the server's error format), the rest of RFC 6455
// section 4.2 by gobwas, which answers a bad key or version itself.
func (s *Server) upgradeWS(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, codeBadRequest, "websocket: request origin not allowed")
		return nil, fmt.Errorf("engineio: websocket from origin %q: %w", r.Header.Get("Origin"), ErrMalformed)
	}
	u := ws.HTTPUpgrader{Timeout: s.cfg.UpgradeTimeout}
	c, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if c != nil {
			_ = c.Close()
		}
		return nil, fmt.Errorf("engineio: websocket handshake: %w", err)
	}
	wc := &wsConn{c: c, limit: s.cfg.MaxPayload}
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		wc.pre = bytes.Clone(b)
	}
	return wc, nil
}

// Read reads what the HTTP server had buffered, then the connection.
func (wc *wsConn) Read(p []byte) (int, error) {
	if len(wc.pre) > 0 {
		n := copy(p, wc.pre)
		wc.pre = wc.pre[n:]
		if len(wc.pre) == 0 {
			wc.pre = nil
		}
		return n, nil
	}
	return wc.c.Read(p)
}

// readMessage reads one message: a text or binary frame and its
// continuations. Control frames in between are answered here (a ping with
// its pong; a close with a close, returned as *wsCloseError). It fails the
// connection with the right close code on a protocol error (1002) or a
// message above the limit (1009).
func (wc *wsConn) readMessage() (binary bool, data []byte, err error) {
	var msg []byte
	var op ws.OpCode
	for {
		h, err := ws.ReadHeader(wc)
		if err != nil {
			return false, nil, err
		}
		switch {
		case h.Rsv != 0, !h.Masked: // RFC 6455 5.2 (no extension) and 5.1 (clients mask)
			return false, nil, wc.fail(ws.StatusProtocolError, "bad frame header", errWSProtocol)
		case h.OpCode.IsControl():
			if !h.Fin || h.Length > 125 { // 5.5
				return false, nil, wc.fail(ws.StatusProtocolError, "bad control frame", errWSProtocol)
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(wc, p); err != nil {
				return false, nil, err
			}
			ws.Cipher(p, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				if err := wc.writeFrame(ws.OpPong, p, time.Now().Add(time.Second)); err != nil {
					return false, nil, err
				}
			case ws.OpClose:
				code, reason := ws.ParseCloseFrameData(p)
				if code.Empty() {
					code = ws.StatusNoStatusRcvd
				}
				_ = wc.writeClose(ws.StatusNormalClosure, "")
				return false, nil, &wsCloseError{code: code, reason: reason}
			}
			continue
		case h.OpCode == ws.OpContinuation:
			if op == 0 {
				return false, nil, wc.fail(ws.StatusProtocolError, "continuation without a message", errWSProtocol)
			}
		case h.OpCode == ws.OpText, h.OpCode == ws.OpBinary:
			if op != 0 {
				return false, nil, wc.fail(ws.StatusProtocolError, "message inside a message", errWSProtocol)
			}
			op = h.OpCode
		default:
			return false, nil, wc.fail(ws.StatusProtocolError, "reserved opcode", errWSProtocol)
		}
		if int64(len(msg))+h.Length > wc.limit {
			return false, nil, wc.fail(ws.StatusMessageTooBig, "", errWSReadLimit)
		}
		n := len(msg)
		msg = append(msg, make([]byte, h.Length)...)
		if _, err := io.ReadFull(wc, msg[n:]); err != nil {
			return false, nil, err
		}
		ws.Cipher(msg[n:], h.Mask, 0)
		if h.Fin {
			if msg == nil {
				msg = []byte{}
			}
			return op == ws.OpBinary, msg, nil
		}
	}
}

// fail sends a close frame with code and returns err.
func (wc *wsConn) fail(code ws.StatusCode, reason string, err error) error {
	_ = wc.writeClose(code, reason)
	return err
}

// writeFrame writes one unmasked final frame (servers never mask, RFC 6455
// 5.1) with a single writev.
func (wc *wsConn) writeFrame(op ws.OpCode, p []byte, deadline time.Time) error {
	var hb [ws.MaxHeaderSize]byte
	hw := bytes.NewBuffer(hb[:0])
	if err := ws.WriteHeader(hw, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}); err != nil {
		return err
	}
	wc.wmu.Lock()
	defer wc.wmu.Unlock()
	_ = wc.c.SetWriteDeadline(deadline)
	bufs := net.Buffers{hw.Bytes(), p}
	_, err := bufs.WriteTo(wc.c)
	return err
}

// writeMessage writes a text or binary message.
func (wc *wsConn) writeMessage(binary bool, p []byte, deadline time.Time) error {
	op := ws.OpText
	if binary {
		op = ws.OpBinary
	}
	return wc.writeFrame(op, p, deadline)
}

// writeClose writes a close frame (within a second, as a courtesy: the
// connection is closed next either way).
func (wc *wsConn) writeClose(code ws.StatusCode, reason string) error {
	return wc.writeFrame(ws.OpClose, ws.NewCloseFrameBody(code, reason), time.Now().Add(time.Second))
}

func (wc *wsConn) setReadDeadline(t time.Time) { _ = wc.c.SetReadDeadline(t) }

// poll registers wc with p, to call fn whenever it is armed and readable;
// false when it cannot be polled (TLS).
func (wc *wsConn) poll(p *netpoll.Poller, fn func()) bool {
	if p == nil {
		return false
	}
	h, err := p.Register(wc.c, fn)
	if err != nil {
		return false
	}
	wc.hmu.Lock()
	wc.h = h
	wc.hmu.Unlock()
	return true
}

// arm asks the poller for the next readable event; bytes the HTTP server
// had buffered count as readable at once (epoll cannot see them).
func (wc *wsConn) arm() error {
	wc.hmu.Lock()
	h := wc.h
	wc.hmu.Unlock()
	if h == nil {
		return net.ErrClosed
	}
	if len(wc.pre) > 0 {
		h.Fire()
		return nil
	}
	return h.Arm()
}

// close closes the connection and forgets its poller registration.
func (wc *wsConn) close() error {
	wc.hmu.Lock()
	h := wc.h
	wc.h = nil
	wc.hmu.Unlock()
	if h != nil {
		h.Close()
	}
	return wc.c.Close()
}
