// Package netpoll tells when an idle connection has bytes to read, without a
// goroutine parked in Read for each connection. The hub holds tens of
// thousands of device sockets that say nothing for minutes (issue 17 §4); a
// goroutine per socket was a third of the hub's memory per socket.
//
// A Poller is one epoll instance (Linux) and one goroutine waiting on it.
// A connection is registered once; Arm asks for one callback the next time
// it is readable (EPOLLONESHOT), and the callback's reader re-arms after it
// has taken what it wanted. The reader must not buffer beyond what it
// consumes: bytes kept in a user-space buffer are invisible to epoll.
package netpoll

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// ErrUnsupported reports a connection that cannot be polled: not a socket
// with a file descriptor (a *tls.Conn, a net.Pipe), or no epoll on this
// platform. The caller reads it on a goroutine of its own instead.
var ErrUnsupported = errors.New("netpoll: connection cannot be polled")

// ErrClosed reports a Poller that was closed.
var ErrClosed = errors.New("netpoll: poller closed")

// Handle is one connection registered with a Poller.
type Handle struct {
	p     *Poller
	id    uint64
	rc    syscall.RawConn
	fn    func()
	mu    sync.Mutex // guards added (Arm and Close may race)
	added bool
}

// Register prepares c for Arm: onReadable runs on a new goroutine each time
// an armed c becomes readable or hung up. ErrUnsupported when c is not a
// plain socket.
func (p *Poller) Register(c net.Conn, onReadable func()) (*Handle, error) {
	sc, ok := c.(syscall.Conn)
	if !ok || !supported {
		return nil, ErrUnsupported
	}
	if _, isTCP := c.(*net.TCPConn); !isTCP {
		if _, isUnix := c.(*net.UnixConn); !isUnix {
			return nil, ErrUnsupported
		}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, ErrUnsupported
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	p.next++
	h := &Handle{p: p, id: p.next, rc: rc, fn: onReadable}
	p.handles[h.id] = h
	return h, nil
}

// Close forgets h: an event already on its way is dropped. The kernel drops
// the registration itself when the connection's descriptor is closed.
func (h *Handle) Close() {
	h.p.mu.Lock()
	delete(h.p.handles, h.id)
	h.p.mu.Unlock()
}

// Fire calls h's callback now, as if its connection were readable: for
// bytes its reader holds that epoll cannot see.
func (h *Handle) Fire() { go h.fn() }

// fire runs the callback of the handle id, if it is still registered.
func (p *Poller) fire(id uint64) {
	p.mu.Lock()
	h := p.handles[id]
	p.mu.Unlock()
	if h != nil {
		go h.fn()
	}
}
