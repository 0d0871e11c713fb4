//go:build !linux

package netpoll

import "sync"

// Poller is not available off Linux: Register says ErrUnsupported and the
// caller reads on a goroutine.
type Poller struct {
	mu      sync.Mutex
	handles map[uint64]*Handle
	next    uint64
	closed  bool
}

// supported: no epoll here.
const supported = false

// New returns a Poller that polls nothing.
func New() (*Poller, error) { return &Poller{handles: map[uint64]*Handle{}}, nil }

// Arm is never reached: Register refuses every connection.
func (h *Handle) Arm() error { return ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }
