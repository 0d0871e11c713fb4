// Package netwatch reports network changes — a link coming up, an address
// or a default route appearing — so the socket layer can retry at once
// instead of sleeping out its backoff. On Linux it listens to rtnetlink
// multicast groups (rtnetlink(7)); elsewhere it reports nothing.
package netwatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Watcher coalesces kernel network events into a channel of "something
// changed, try now" ticks.
type Watcher struct {
	// Settle waits this long after the first event of a burst before
	// reporting (a link coming up brings several messages: link, address,
	// routes); default 50 ms.
	Settle time.Duration
	Clock  clockwork.Clock
	Logger *slog.Logger

	c    chan struct{}
	mu   sync.Mutex
	subs []chan struct{} // every reader: c, then Subscribe's
}

// New returns a Watcher; Run starts it.
func New() *Watcher {
	c := make(chan struct{}, 1)
	return &Watcher{Settle: 50 * time.Millisecond, Clock: clockwork.NewRealClock(), Logger: slog.Default(), c: c, subs: []chan struct{}{c}}
}

// C delivers one tick per settled burst of changes that can restore
// connectivity (never blocks the watcher; ticks coalesce).
func (w *Watcher) C() <-chan struct{} { return w.c }

// Subscribe returns another channel with the same ticks as C, for a
// second reader (the health feed re-reads the network at once instead of at
// its next poll). Call it before Run.
func (w *Watcher) Subscribe() <-chan struct{} {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	w.subs = append(w.subs, c)
	w.mu.Unlock()
	return c
}

func (w *Watcher) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Run watches until ctx ends. It returns an error only if the kernel
// interface cannot be opened at all; callers may ignore it and run without
// fast retries.
func (w *Watcher) Run(ctx context.Context) error {
	events := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() { errc <- listen(ctx, events) }()
	var settle clockwork.Timer
	var settleC <-chan time.Time
	defer func() {
		if settle != nil {
			settle.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			<-errc
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-events:
			if settleC == nil {
				settle = w.Clock.NewTimer(w.Settle)
				settleC = settle.Chan()
			}
		case <-settleC:
			settleC = nil
			w.Logger.Debug("network changed", "component", "netwatch")
			w.notify()
		}
	}
}
