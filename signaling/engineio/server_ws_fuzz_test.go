package engineio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// byteConn is a net.Conn that reads a fixed input and swallows writes.
type byteConn struct {
	net.Conn
	r   io.Reader
	out bytes.Buffer
}

func (c *byteConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *byteConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *byteConn) SetWriteDeadline(time.Time) error { return nil }
func (c *byteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *byteConn) Close() error                     { return nil }

// FuzzWSReadMessage feeds the server's frame reader arbitrary bytes from a
// hostile client (issue 12): it never panics, never returns a message above
// maxPayload, and never allocates for a length it has not checked.
func FuzzWSReadMessage(f *testing.F) {
	frame := func(op ws.OpCode, fin bool, p string) []byte {
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(op, fin, []byte(p))))
		return b.Bytes()
	}
	f.Add(frame(ws.OpText, true, "4hello"))
	f.Add(append(frame(ws.OpText, false, "4he"), append(frame(ws.OpPing, true, "x"), frame(ws.OpContinuation, true, "llo")...)...))
	f.Add(frame(ws.OpClose, true, "\x03\xe8bye"))
	f.Add(frame(ws.OpBinary, true, "\x00\x01"))
	huge := []byte{0x81, 0xff}
	huge = binary.BigEndian.AppendUint64(huge, 1<<62)
	f.Add(append(huge, 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1000
		wc := &wsConn{c: &byteConn{r: bytes.NewReader(in)}, limit: limit}
		for range 64 {
			_, data, err := wc.readMessage()
			if err != nil {
				var ce *wsCloseError
				if errors.As(err, &ce) || errors.Is(err, errWSProtocol) || errors.Is(err, errWSReadLimit) ||
					errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ws.ErrHeaderLengthMSB) ||
					errors.Is(err, ws.ErrHeaderLengthUnexpected) {
					return
				}
				t.Fatalf("unexpected error %v", err)
			}
			if len(data) > limit {
				t.Fatalf("message of %d bytes above the limit %d", len(data), limit)
			}
		}
	})
}
