package health

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/appliance/peer"
	"tether/media"
	"tether/signaling/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTracker(t testing.TB) (*Tracker, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	tr, err := New(Config{Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return tr, clk
}

func recv(t *testing.T, sub *Subscription) Snapshot {
	t.Helper()
	select {
	case s := <-sub.C():
		return s
	default:
		t.Fatal("no snapshot pending")
	}
	return Snapshot{}
}

func nonePending(t *testing.T, sub *Subscription) {
	t.Helper()
	select {
	case s := <-sub.C():
		t.Fatalf("unexpected snapshot %d %v", s.Seq, s.Overall)
	default:
	}
}

// bringUp walks the appliance through the seed's start-up order.
func bringUp(tr *Tracker) {
	tr.ReportNetwork(NetworkStatus{State: NetworkUp, Detail: "eth0"})
	tr.ReportMedia(FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK}))
	tr.SetBooting(false)
	tr.ReportSocket(SocketStatus{State: socketio.Connecting, Attempt: 1})
	tr.ReportSocket(SocketStatus{State: socketio.Connected, Transport: "websocket"})
	tr.ReportPeer(PeerStatus{State: peer.Waiting})
}

func TestTrackerSequence(t *testing.T) {
	tr, clk := newTracker(t)
	start := clk.Now()
	sub := tr.Subscribe()
	defer sub.Close()

	s := recv(t, sub)
	if s.Overall != StateBooting || s.Seq != 1 || !s.Started.Equal(start) || !s.Booting {
		t.Fatalf("initial snapshot %+v", s)
	}

	steps := []struct {
		name    string
		report  func()
		want    State
		advance time.Duration
	}{
		{"network up", func() { tr.ReportNetwork(NetworkStatus{State: NetworkUp}) }, StateBooting, time.Second},
		{"boot done, socket not yet", func() { tr.SetBooting(false) }, StateHubUnreachable, time.Second},
		{"connecting", func() { tr.ReportSocket(SocketStatus{State: socketio.Connecting, Attempt: 1}) }, StateHubUnreachable, time.Second},
		{"connected, not joined", func() { tr.ReportSocket(SocketStatus{State: socketio.Connected, Transport: "websocket"}) }, StateHubUnreachable, time.Second},
		{"joined", func() { tr.ReportPeer(PeerStatus{State: peer.Waiting}) }, StateReadyWaiting, time.Second},
		{"customer", func() { tr.ReportPeer(PeerStatus{State: peer.Connected, Path: peer.PathHost}) }, StateInCall, time.Second},
		{"rtt high", func() { tr.ReportPeer(PeerStatus{State: peer.Connected, Path: peer.PathHost, RTT: time.Second}) }, StateDegraded, time.Second},
		{"socket dropped", func() { tr.ReportSocket(SocketStatus{State: socketio.Backoff, Attempt: 1, LastError: "EOF"}) }, StateHubUnreachable, time.Second},
		{"session expired", func() { tr.ReportSocket(SocketStatus{State: socketio.SessionExpired}) }, StateLoginNeeded, time.Second},
		{"network down", func() { tr.ReportNetwork(NetworkStatus{State: NetworkDown}) }, StateNoNetwork, time.Second},
		{"restart", func() { tr.SetRestarting("stuck") }, StateRestarting, time.Second},
	}
	t.Cleanup(func() {
		for _, st := range []State{StateBooting, StateReadyWaiting, StateInCall, StateDegraded, StateLoginNeeded, StateNoNetwork, StateRestarting} {
			if n := tr.Entered(st); n != 1 {
				t.Errorf("Entered(%v) = %d, want 1", st, n)
			}
		}
		// Hub unreachable: after boot, and again when the socket dropped.
		if n := tr.Entered(StateHubUnreachable); n != 2 {
			t.Errorf("Entered(hub-unreachable) = %d, want 2", n)
		}
		if tr.Entered(StateFault) != 0 || tr.Entered(State(99)) != 0 {
			t.Error("fault/out-of-range entered")
		}
	})
	var lastSeq uint64 = 1
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.Advance(st.advance)
			st.report()
			s := recv(t, sub)
			if s.Overall != st.want {
				t.Fatalf("Overall = %v (%s), want %v", s.Overall, s.Reason, st.want)
			}
			if s.Seq != lastSeq+1 {
				t.Fatalf("Seq = %d, want %d", s.Seq, lastSeq+1)
			}
			lastSeq = s.Seq
			if !s.At.Equal(clk.Now()) || s.Uptime != clk.Now().Sub(start) {
				t.Fatalf("At %v Uptime %v, now %v", s.At, s.Uptime, clk.Now())
			}
			nonePending(t, sub)
		})
	}
}

func TestTrackerNoChangeNoSnapshot(t *testing.T) {
	tr, _ := newTracker(t)
	bringUp(tr)
	sub := tr.Subscribe()
	defer sub.Close()
	first := recv(t, sub)

	// The same facts again publish nothing, whatever Since says.
	tr.ReportNetwork(NetworkStatus{State: NetworkUp, Detail: "eth0"})
	tr.ReportSocket(SocketStatus{State: socketio.Connected, Transport: "websocket", Since: time.Unix(1, 0)})
	tr.ReportPeer(PeerStatus{State: peer.Waiting})
	tr.SetBooting(false)
	tr.SetFault("")
	tr.SetRestarting("")
	nonePending(t, sub)
	if got := tr.Snapshot(); got.Seq != first.Seq {
		t.Fatalf("Seq moved %d -> %d without a change", first.Seq, got.Seq)
	}
}

func TestTrackerSinceAndUptime(t *testing.T) {
	tr, clk := newTracker(t)
	start := clk.Now()
	bringUp(tr)
	joined := clk.Now()

	clk.Advance(10 * time.Second)
	// RTT update: same state, so Socket.Since and OverallSince stay.
	tr.ReportSocket(SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: 50 * time.Millisecond})
	s := tr.Snapshot()
	if !s.Socket.Since.Equal(joined) || !s.OverallSince.Equal(joined) {
		t.Fatalf("Since moved on an RTT update: socket %v overall %v", s.Socket.Since, s.OverallSince)
	}
	if s.Socket.RTT != 50*time.Millisecond {
		t.Fatalf("RTT %v", s.Socket.RTT)
	}

	clk.Advance(5 * time.Second)
	tr.ReportPeer(PeerStatus{State: peer.Connected})
	s = tr.Snapshot()
	if !s.Peer.Since.Equal(clk.Now()) || !s.OverallSince.Equal(clk.Now()) || s.Overall != StateInCall {
		t.Fatalf("after customer: %+v", s)
	}

	clk.Advance(time.Hour)
	if up := tr.Snapshot().Uptime; up != clk.Now().Sub(start) {
		t.Fatalf("Uptime %v, want %v", up, clk.Now().Sub(start))
	}
}

func TestTrackerLossClamped(t *testing.T) {
	tr, _ := newTracker(t)
	bringUp(tr)
	for _, tc := range []struct {
		in, want float64
	}{{-1, 0}, {2, 1}, {0.5, 0.5}} {
		tr.ReportPeer(PeerStatus{State: peer.Connected, Loss: tc.in})
		if got := tr.Snapshot().Peer.Loss; got != tc.want {
			t.Fatalf("Loss(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	nan := 0.0
	nan = nan / nan
	tr.ReportPeer(PeerStatus{State: peer.Connected, Loss: nan})
	before := tr.Snapshot().Seq
	tr.ReportPeer(PeerStatus{State: peer.Connected, Loss: nan})
	if tr.Snapshot().Seq != before {
		t.Fatal("NaN loss made every report a change")
	}
}

// A subscriber that never reads must not block reporters, and when it does
// read it gets exactly one snapshot: the latest.
func TestSubscriptionCoalesces(t *testing.T) {
	tr, _ := newTracker(t)
	slow := tr.Subscribe()
	defer slow.Close()
	fast := tr.Subscribe()
	defer fast.Close()
	recv(t, fast)

	bringUp(tr)
	var fastSeen []uint64
	for i := 1; i <= 1000; i++ {
		tr.ReportPeer(PeerStatus{State: peer.Connected, RTT: time.Duration(i) * time.Millisecond})
		fastSeen = append(fastSeen, recv(t, fast).Seq)
	}
	want := tr.Snapshot()
	got := recv(t, slow)
	if got.Seq != want.Seq || got.Peer.RTT != 1000*time.Millisecond || got.Overall != StateDegraded {
		t.Fatalf("slow subscriber got seq %d rtt %v %v, want latest seq %d", got.Seq, got.Peer.RTT, got.Overall, want.Seq)
	}
	nonePending(t, slow)
	for i := 1; i < len(fastSeen); i++ {
		if fastSeen[i] != fastSeen[i-1]+1 {
			t.Fatalf("fast subscriber skipped: %d then %d", fastSeen[i-1], fastSeen[i])
		}
	}
}

func TestSubscriptionClose(t *testing.T) {
	tr, _ := newTracker(t)
	sub := tr.Subscribe()
	recv(t, sub)
	sub.Close()
	sub.Close()      // idempotent
	tr.SetFault("x") // must not send on the closed channel
	if _, ok := <-sub.C(); ok {
		t.Fatal("channel not closed")
	}
}

// Many reporters and subscribers at once: run under -race. Every
// subscriber must converge on the final snapshot.
func TestConcurrent(t *testing.T) {
	tr, _ := newTracker(t)
	bringUp(tr)
	const subscribers, reporters, reports = 4, 4, 500
	var wg sync.WaitGroup
	done := make(chan struct{})
	results := make(chan Snapshot, subscribers)
	for i := 0; i < subscribers; i++ {
		sub := tr.Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			var last Snapshot
			for {
				select {
				case s := <-sub.C():
					if s.Seq < last.Seq {
						t.Errorf("seq went back %d -> %d", last.Seq, s.Seq)
					}
					last = s
				case <-done:
					// Drain what is left: the latest, if unread.
					select {
					case s := <-sub.C():
						last = s
					default:
					}
					results <- last
					return
				}
			}
		}()
	}
	var rw sync.WaitGroup
	for r := 0; r < reporters; r++ {
		rw.Add(1)
		go func(r int) {
			defer rw.Done()
			for i := 0; i < reports; i++ {
				switch r % 4 {
				case 0:
					tr.ReportPeer(PeerStatus{State: peer.Connected, RTT: time.Duration(i) * time.Microsecond})
				case 1:
					tr.ReportSocket(SocketStatus{State: socketio.Connected, RTT: time.Duration(i) * time.Microsecond})
				case 2:
					tr.ReportMedia(FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceState(1 + i%2*3)}))
				case 3:
					_ = tr.Snapshot()
				}
			}
		}(r)
	}
	rw.Wait()
	final := tr.Snapshot()
	close(done)
	wg.Wait()
	close(results)
	for s := range results {
		if s.Seq != final.Seq {
			t.Fatalf("subscriber ended on seq %d, want %d", s.Seq, final.Seq)
		}
	}
}

func BenchmarkReport(b *testing.B) {
	for _, n := range []int{0, 1, 8} {
		b.Run("subs="+string(rune('0'+n)), func(b *testing.B) {
			tr, _ := newTracker(b)
			bringUp(tr)
			for i := 0; i < n; i++ {
				defer tr.Subscribe().Close()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.ReportPeer(PeerStatus{State: peer.Connected, RTT: time.Duration(i%1000+1) * time.Microsecond})
			}
		})
	}
}

// Snapshots are values: the device list a reporter passes is copied, so
// changing it afterwards changes no snapshot, and reporting the same list
// again is no change.
func TestReportMediaCopiesDevices(t *testing.T) {
	tr, err := New(Config{Clock: clockwork.NewFakeClockAt(time.Unix(0, 0)), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK})
	tr.ReportMedia(m)
	seq := tr.Snapshot().Seq
	m.Devices[0].State = media.SourceMissing
	if got := tr.Snapshot().Media.Device(media.DeviceCamera).State; got != media.SourceOK {
		t.Fatalf("camera %v in the snapshot after the reporter changed its list", got)
	}
	tr.ReportMedia(FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK}))
	if tr.Snapshot().Seq != seq {
		t.Fatal("the same devices again made a new snapshot")
	}
}
