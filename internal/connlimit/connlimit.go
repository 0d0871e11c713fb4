// Package connlimit caps concurrent connections per client address on a
// net.Listener, so one host cannot hold every socket (and its memory and
// file descriptors) of a server with slow or idle connections (issue 12
// item 8). The setup page uses it; the hub can wrap its listener the same
// way.
package connlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Config bounds connections. Zero fields take the defaults.
type Config struct {
	// PerAddr is the most connections open at once from one IP address
	// (default 16: a browser opens 6 per origin, a few tabs more).
	PerAddr int
	// Total is the most open at once from everyone (default 256).
	Total int
}

// Defaults for Config fields left zero.
const (
	DefaultPerAddr = 16
	DefaultTotal   = 256
)

// Listener wraps a net.Listener: a connection over a cap is closed as soon
// as it is accepted, and Accept goes on to the next one.
type Listener struct {
	net.Listener
	cfg Config

	mu     sync.Mutex // guards byAddr, total
	byAddr map[string]int
	total  int

	refused atomic.Uint64
}

// Wrap returns ln with the caps of cfg.
func Wrap(ln net.Listener, cfg Config) *Listener {
	if cfg.PerAddr <= 0 {
		cfg.PerAddr = DefaultPerAddr
	}
	if cfg.Total <= 0 {
		cfg.Total = DefaultTotal
	}
	return &Listener{Listener: ln, cfg: cfg, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		if l.take(addr) {
			return &conn{Conn: c, l: l, addr: addr}, nil
		}
		l.refused.Add(1)
		_ = c.Close()
	}
}

func (l *Listener) take(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.cfg.Total || l.byAddr[addr] >= l.cfg.PerAddr {
		return false
	}
	l.total++
	l.byAddr[addr]++
	return true
}

func (l *Listener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

// Open is the number of connections open now (for metrics and tests).
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Refused counts connections closed for being over a cap.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn gives its slot back once, on the first Close.
type conn struct {
	net.Conn
	l      *Listener
	addr   string
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.addr)
	}
	return err
}
