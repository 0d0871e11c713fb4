package netwatch

import "testing"

// TestSubscribeFanOut: every reader gets each settled tick, and ticks
// coalesce per reader (a slow reader sees one, not a backlog).
func TestSubscribeFanOut(t *testing.T) {
	w := New()
	a, b := w.Subscribe(), w.Subscribe()
	w.notify()
	w.notify()
	for name, c := range map[string]<-chan struct{}{"C": w.C(), "a": a, "b": b} {
		select {
		case <-c:
		default:
			t.Fatalf("%s got no tick", name)
		}
		select {
		case <-c:
			t.Fatalf("%s got a second tick for one burst", name)
		default:
		}
	}
}
