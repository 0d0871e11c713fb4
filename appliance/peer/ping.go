package peer

import "context"

// Ping returns once the Run goroutine has handled a no-op event: the
// supervisor's proof that the peer's state machine is not deadlocked.
func (p *Peer) Ping(ctx context.Context) error {
	done := make(chan struct{})
	p.enqueue(event{kind: evSync, done: done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
