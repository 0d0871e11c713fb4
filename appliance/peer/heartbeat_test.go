package peer

import (
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
)

// TestHeartbeat: pings every HeartbeatInterval of the injected clock are
// answered; when the customer stops answering (ICE still fine), two missed
// beats make the link Degraded and, after the grace, an ICE restart;
// answers coming back make it Connected again.
func TestHeartbeat(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	pongs := make(chan struct{}, 16)
	r, c := connectedHarness(t, mock)
	// Frames can flow before the data channel opens (SCTP after DTLS, slow
	// under -race on a loaded box): a tick before that sends no beat.
	open := false
	for deadline := time.Now().Add(waitLimit); !open && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.onLoop(func() { open = r.peer.active.dcOpen.Load() })
	}
	// Install the hook on the Run goroutine, which reads it.
	setHook := make(chan struct{})
	r.peer.enqueue(event{kind: evSync, done: setHook, hook: func() {
		r.peer.hookPong = func() {
			select {
			case pongs <- struct{}{}:
			default:
			}
		}
	}})
	<-setHook
	waitPong := func() {
		t.Helper()
		select {
		case <-pongs:
		case <-time.After(waitLimit):
			t.Fatalf("no pong; stats %+v", r.peer.Stats())
		}
	}

	mock.Advance(DefaultHeartbeatInterval)
	waitPong()
	mock.Advance(DefaultHeartbeatInterval)
	waitPong()
	st := r.syncStats()
	if st.BeatsSent != 2 || st.BeatsLost != 0 || st.MissedBeats != 0 {
		t.Fatalf("after two answered beats: sent %d lost %d missed %d", st.BeatsSent, st.BeatsLost, st.MissedBeats)
	}
	// The ticks also read GetStats and the selected pair.
	if st.BytesSent == 0 || st.PacketsSent == 0 || st.Path != PathHost || st.BitrateBps < 0 {
		t.Fatalf("GetStats figures missing: %+v", st)
	}

	// Each tick must reach the Run goroutine before the next: Advance
	// returns once the ticker's channel holds a tick, and a second tick
	// while the first is unread is dropped, as with time.Ticker.
	beat := func(n uint64) {
		t.Helper()
		mock.Advance(DefaultHeartbeatInterval)
		testenv.Eventually(t, waitLimit, fmt.Sprintf("beat %d sent", n), func() bool { return r.peer.Stats().BeatsSent >= n })
	}
	c.noEcho.Store(true)
	beat(3) // beat 2 was answered; beat 3 goes out
	beat(4) // beat 3 missed
	beat(5) // beat 4 missed: 2 in a row
	r.waitState(Degraded)
	if st := r.syncStats(); st.MissedBeats != 2 || st.BeatsLost != 2 {
		t.Fatalf("missed %d lost %d, want 2 and 2", st.MissedBeats, st.BeatsLost)
	}
	mock.Advance(DefaultDisconnectedGrace)
	r.waitState(Restarting)

	c.noEcho.Store(false)
	r.driveUntil(mock, Connected, DefaultHeartbeatInterval)
	c.waitFrames(5)
}
