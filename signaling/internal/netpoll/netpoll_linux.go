//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller waits on one epoll instance for the connections registered with
// it. Its goroutine is the only reader of the instance; Arm and Close may
// be called from any goroutine.
type Poller struct {
	epfd int
	wake int // eventfd that ends the wait on Close

	mu      sync.Mutex // guards the fields below
	handles map[uint64]*Handle
	next    uint64
	closed  bool
	done    chan struct{}
}

// supported: epoll is there.
const supported = true

// wakeID is the event data of the eventfd; handle ids start at 1.
const wakeID = 0

// New starts a Poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: epoll_ctl eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wake: wake, handles: make(map[uint64]*Handle), done: make(chan struct{})}
	go p.run()
	return p, nil
}

// setID and getID keep a 64-bit handle id in the event's data (the union
// epoll_data_t, which x/sys/unix spells Fd and Pad).
func setID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func getID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func (p *Poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // EBADF after Close
		}
		for i := range events[:n] {
			id := getID(&events[i])
			if id == wakeID {
				return
			}
			p.fire(id)
		}
	}
}

// Arm asks for one call of h's callback when its connection is readable
// (now, if it already is). The first Arm adds the descriptor; later ones
// re-enable it (EPOLL_CTL_MOD: EPOLLONESHOT disabled it when it fired).
// The descriptor is used inside RawConn.Control, so a connection closed
// meanwhile cannot have its number reused under us.
func (h *Handle) Arm() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setID(&ev, h.id)
	var cerr error
	err := h.rc.Control(func(fd uintptr) {
		op := unix.EPOLL_CTL_MOD
		if !h.added {
			op = unix.EPOLL_CTL_ADD
		}
		cerr = unix.EpollCtl(h.p.epfd, op, int(fd), &ev)
		if cerr == nil {
			h.added = true
		}
	})
	if err != nil {
		return fmt.Errorf("netpoll: arm: %w", err) // the connection is closed
	}
	if cerr != nil {
		return fmt.Errorf("netpoll: epoll_ctl: %w", cerr)
	}
	return nil
}

// Close stops the Poller's goroutine. Registered connections stay open;
// their callbacks are never called again.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.handles = map[uint64]*Handle{}
	p.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(p.wake, one[:])
	<-p.done
	unix.Close(p.wake)
	return unix.Close(p.epfd)
}
