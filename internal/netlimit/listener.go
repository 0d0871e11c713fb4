// Package netlimit bounds what one client address may hold open on a
// listener. It is shared by every server of the project that faces
// untrusted clients (the hub; the appliance's setup page may use it too).
package netlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener and closes, at once, any accepted
// connection whose remote IP already holds Max open connections (a
// slowloris or idle-connection flood from one address then costs one
// file descriptor per attempt for a moment, not one per connection held).
// A connection counts until it is closed, hijacked ones (websockets)
// included, since they keep the wrapper.
type Listener struct {
	net.Listener
	// Max connections per remote IP (> 0).
	Max int

	mu      sync.Mutex
	open    map[string]int
	refused atomic.Uint64
}

// NewListener limits ln to max connections per remote IP.
func NewListener(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, Max: max, open: map[string]int{}}
}

// Refused is how many connections were closed for being over the bound.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Open is the number of connections from ip that are open now.
func (l *Listener) Open(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

// Accept returns the next connection within the bound.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		if l.open[ip] >= l.Max {
			l.mu.Unlock()
			l.refused.Add(1)
			c.Close()
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	if n := l.open[ip]; n > 1 {
		l.open[ip] = n - 1
	} else {
		delete(l.open, ip)
	}
	l.mu.Unlock()
}

func hostOf(a net.Addr) string {
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

type conn struct {
	net.Conn
	l    *Listener
	ip   string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
