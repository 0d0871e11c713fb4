package login

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrBusy means the hashing queue is full or the wait for a slot ran out:
// the caller answers 503 with Retry-After and the client tries again.
var ErrBusy = errors.New("login: too many password checks at once")

// Gate runs at most Slots argon2 computations at once; up to Queue callers
// wait, each at most Wait; everyone else is refused at once with ErrBusy.
// argon2id allocates its whole memory cost per call (19 MiB by default), so
// the process's memory for hashing is bounded by Slots × MemoryKiB instead
// of by the number of concurrent logins (issue 12 item 3: 40 at once took
// the hub to 1.2 GB).
type Gate struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
	wait     time.Duration
}

// Defaults of DefaultGate.
const (
	DefaultSlots = 2
	DefaultQueue = 32
	DefaultWait  = 5 * time.Second
)

// DefaultGate is shared by every Hasher without its own Gate. It is one per
// process on purpose: the memory it protects is the process's, and
// `tetherd -demo` runs the hub and the setup page in one process.
var DefaultGate = NewGate(DefaultSlots, DefaultQueue, DefaultWait)

// NewGate returns a Gate; values below 1 take the defaults.
func NewGate(slots, queue int, wait time.Duration) *Gate {
	if slots < 1 {
		slots = DefaultSlots
	}
	if queue < 1 {
		queue = DefaultQueue
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	return &Gate{slots: make(chan struct{}, slots), maxQueue: int64(queue), wait: wait}
}

// Do runs fn when a slot is free, or returns ErrBusy.
func (g *Gate) Do(fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.maxQueue {
			g.waiting.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(g.wait)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
			g.waiting.Add(-1)
		case <-t.C:
			g.waiting.Add(-1)
			return ErrBusy
		}
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// InUse is how many computations run now (for tests and metrics).
func (g *Gate) InUse() int { return len(g.slots) }
