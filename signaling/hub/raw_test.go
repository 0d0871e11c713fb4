package hub_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"tether/internal/hostile"
)

// rawDevice is the cheapest possible Socket.IO client: one TCP connection,
// a hand-made websocket handshake and frames written by hand, nothing else
// held in memory. The benchmarks use it so the process's heap growth is
// the hub's cost per socket; the attack tests use it as the hostile client
// (it sends what no real client would, from a chosen source address).
type rawDevice struct {
	c  net.Conn
	br *bufio.Reader
}

// errClosed is a close frame from the server; code is its status.
type errClosed struct{ code int }

func (e errClosed) Error() string { return fmt.Sprintf("websocket closed (%d)", e.code) }

// dialWS opens an Engine.IO websocket session from source address local
// ("" for any) and reads the open packet.
func dialWS(addr, local string) (*rawDevice, error) { return dialWSBuf(addr, local, 0) }

// dialWSBuf is dialWS with a receive buffer of rcvbuf bytes (0: the
// kernel's): a small one makes a client that reads slowly show at once.
func dialWSBuf(addr, local string, rcvbuf int) (*rawDevice, error) {
	dl := &net.Dialer{Timeout: 30 * time.Second}
	if local != "" {
		dl = hostile.Dialer(local)
	}
	if rcvbuf > 0 {
		dl.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			return errors.Join(err, serr)
		}
	}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("upgrade: %s", resp.Status)
	}
	d := &rawDevice{c: c, br: br}
	if m, err := d.read(); err != nil || !strings.HasPrefix(m, "0{") {
		c.Close()
		return nil, fmt.Errorf("open: %q %v", m, err)
	}
	return d, nil
}

// connect sends CONNECT with auth and returns the server's answer.
func (d *rawDevice) connect(auth any) (string, error) {
	b, _ := json.Marshal(auth)
	if err := d.write("40" + string(b)); err != nil {
		return "", err
	}
	return d.read()
}

func dialRaw(addr, token string, verify bool) (*rawDevice, error) {
	d, err := dialWS(addr, "")
	if err != nil {
		return nil, err
	}
	if m, err := d.connect(map[string]string{"role": "device", "token": token}); err != nil || !strings.HasPrefix(m, "40{") {
		d.c.Close()
		return nil, fmt.Errorf("connect: %q %v", m, err)
	}
	if verify {
		arg, _ := json.Marshal(map[string]string{"token": token})
		if err := d.write(`420["session:verify",` + string(arg) + `]`); err != nil {
			d.c.Close()
			return nil, err
		}
		if m, err := d.read(); err != nil || !strings.HasPrefix(m, `430[{"ok":true`) {
			d.c.Close()
			return nil, fmt.Errorf("verify: %q %v", m, err)
		}
	}
	d.c.SetDeadline(time.Time{})
	return d, nil
}

// read returns the payload of one unmasked server frame (RFC 6455 section
// 5.2); a close frame is an errClosed.
func (d *rawDevice) read() (string, error) {
	var h [2]byte
	if _, err := io.ReadFull(d.br, h[:]); err != nil {
		return "", err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(d.br, l[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(d.br, l[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.br, b); err != nil {
		return "", err
	}
	if h[0]&0x0f == 8 {
		code := 1005
		if len(b) >= 2 {
			code = int(binary.BigEndian.Uint16(b))
		}
		return "", errClosed{code}
	}
	return string(b), nil
}

// readUntil reads frames until one starts with prefix (answering pings)
// and returns it; an error when the connection ends first.
func (d *rawDevice) readUntil(prefix string) (string, error) {
	for {
		m, err := d.read()
		if err != nil {
			return "", err
		}
		if m == "2" {
			d.write("3")
			continue
		}
		if strings.HasPrefix(m, prefix) {
			return m, nil
		}
	}
}

// closed reads until the server ends the connection (within d), answering
// pings: nil when it did.
func (d *rawDevice) closed(within time.Duration) error {
	d.c.SetReadDeadline(time.Now().Add(within))
	defer d.c.SetReadDeadline(time.Time{})
	for {
		m, err := d.read()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return fmt.Errorf("still open after %v", within)
		case err != nil:
			return nil
		case m == "2":
			d.write("3")
		}
	}
}

// frame sends one masked client frame with opcode op (1 text, 2 binary).
func (d *rawDevice) frame(op byte, p []byte) error {
	b := []byte{0x80 | op}
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	case len(p) < 1<<16:
		b = append(b, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := range p {
		b = append(b, p[i]^mask[i%4])
	}
	_, err := d.c.Write(b)
	return err
}

// write sends one text frame.
func (d *rawDevice) write(s string) error { return d.frame(1, []byte(s)) }
