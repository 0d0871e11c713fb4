package setup

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// sniffListener serves HTTPS and plain HTTP on one port: the first byte of
// a TLS connection is a handshake record (0x16, RFC 8446 §5.1); anything
// else is plain HTTP, which the page answers with a 308 to https:// on the
// same host and port. So the old http://appliance:8080/ bookmark still
// works and lands on TLS (issue 12 item 9).
//
// The first byte is read by a goroutine per connection, never by Accept,
// so one silent client cannot stall the others; it gets `wait` to speak.
type sniffListener struct {
	net.Listener
	cfg  *tls.Config
	wait time.Duration

	conns chan net.Conn
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex // guards pending, closed, err
	err     error      // why the accept loop ended
	pending map[net.Conn]struct{}
	closed  bool
	once    sync.Once
}

func newSniffListener(ln net.Listener, cfg *tls.Config, wait time.Duration) *sniffListener {
	l := &sniffListener{Listener: ln, cfg: cfg, wait: wait, conns: make(chan net.Conn),
		done: make(chan struct{}), pending: map[net.Conn]struct{}{}}
	l.wg.Go(l.acceptLoop)
	return l
}

func (l *sniffListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.shut()
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.pending[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Go(func() { l.classify(c) })
	}
}

func (l *sniffListener) classify(c net.Conn) {
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(l.wait))
	n, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil || n != 1 {
		c.Close()
		return
	}
	var out net.Conn = &prefixConn{Conn: c, first: b[0], has: true}
	if b[0] == 0x16 {
		out = tls.Server(out, l.cfg)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) shut() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		for c := range l.pending {
			c.Close() // unblocks its classify
		}
		l.mu.Unlock()
		close(l.done)
	})
}

// Close stops accepting and waits for the classifying goroutines.
func (l *sniffListener) Close() error {
	err := l.Listener.Close()
	l.shut()
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// prefixConn gives back the byte sniffListener read.
type prefixConn struct {
	net.Conn
	first byte
	has   bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.has && len(p) > 0 {
		p[0] = c.first
		c.has = false
		return 1, nil
	}
	return c.Conn.Read(p)
}
