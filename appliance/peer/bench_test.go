package peer

import (
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
)

// Benchmarks run on the real clock over vnet (pion's timers are real
// anyway). Each reports milliseconds and a ratio against a "cold" customer
// change measured in the same run: a PeerConnection created on
// room:user:joined, as the seed does, with trickle ICE.
//
//	go test -run XXX -bench . -benchtime 10x ./appliance/peer/

func (r *harness) drainStates() {
	for {
		select {
		case <-r.states:
		default:
			return
		}
	}
}

// changeOnce runs one customer change and returns room:user:joined ->
// first assembled keyframe at the customer, -> offer sent, and -> the
// customer's PeerConnection connected (ICE + DTLS).
func (r *harness) changeOnce(id string) (frame, offer time.Duration) {
	f, o, _ := r.changeOnce3(id)
	return f, o
}

func (r *harness) changeOnce3(id string) (frame, offer, connect time.Duration) {
	r.tb.Helper()
	r.drainStates()
	t0 := time.Now()
	c := r.join(id)
	select {
	case <-c.connected:
		connect = time.Since(t0)
	case <-time.After(waitLimit):
		r.tb.Fatalf("%s: never connected", id)
	}
	select {
	case <-c.firstFrame:
	case <-time.After(waitLimit):
		r.tb.Fatalf("%s: no frame", id)
	}
	frame = time.Since(t0)
	offer = time.Unix(0, r.hub.lastOffer.Load()).Sub(t0)
	r.waitState(Connected)
	c.close()
	r.peer.CallEnded(id)
	r.waitState(Waiting)
	return frame, offer, connect
}

// coldChange measures n customer changes with no standby: medians of
// join -> first frame and join -> offer sent.
func coldChange(b *testing.B, n int) (frame, offer time.Duration) {
	f, o, _ := coldChange3(b, n)
	return f, o
}

func coldChange3(b *testing.B, n int, setup ...func(*harness)) (frame, offer, connect time.Duration) {
	b.Helper()
	r := newHarness(b, clockwork.NewRealClock(), func(c *Config) { c.disableStandby = true })
	defer r.stop()
	for _, f := range setup {
		f(r)
	}
	r.changeOnce("cold-warmup")
	var fs, os, cs []time.Duration
	for i := 0; i < n; i++ {
		f, o, c := r.changeOnce3(fmt.Sprintf("cold-%d", i))
		fs, os, cs = append(fs, f), append(os, o), append(cs, c)
	}
	return testenv.Median(fs), testenv.Median(os), testenv.Median(cs)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkCustomerChange: room:user:joined -> first keyframe assembled at
// the customer, with the standby offer, against a cold PeerConnection.
func BenchmarkCustomerChange(b *testing.B) {
	b.ReportAllocs()
	r := newHarness(b, clockwork.NewRealClock())
	r.waitStandby()
	r.changeOnce("warmup")
	var fs, os, cs []time.Duration
	notReady := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !r.syncStats().StandbyReady {
			notReady++
		}
		f, o, c := r.changeOnce3(fmt.Sprintf("warm-%d", i))
		fs, os, cs = append(fs, f), append(os, o), append(cs, c)
	}
	b.StopTimer()
	r.stop()
	warm, warmOffer, warmConn := testenv.Median(fs), testenv.Median(os), testenv.Median(cs)
	cold, coldOffer, coldConn := coldChange3(b, max(5, b.N))
	b.ReportMetric(ms(warmConn), "connect_ms")
	b.ReportMetric(ms(coldConn), "cold_connect_ms")
	b.ReportMetric(float64(warmConn)/float64(coldConn), "connect_ratio_vs_cold")
	b.ReportMetric(ms(warm), "change_ms")
	b.ReportMetric(ms(cold), "cold_ms")
	b.ReportMetric(float64(warm)/float64(cold), "ratio_vs_cold")
	b.ReportMetric(ms(warmOffer), "offer_leaves_ms")
	b.ReportMetric(ms(coldOffer), "cold_offer_leaves_ms")
	b.ReportMetric(float64(notReady), "standby_not_ready")
}

// BenchmarkDeadPathDetection: path cut -> Degraded (ICE disconnected) and
// -> Restarting (restart offer sent).
func BenchmarkDeadPathDetection(b *testing.B) {
	b.ReportAllocs()
	r := newHarness(b, clockwork.NewRealClock())
	r.waitStandby()
	c := r.join("cust")
	defer c.close()
	r.waitState(Connected)
	c.waitFrames(5)
	var det, rst []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.drainStates()
		t0 := time.Now()
		r.net.dropAll.Store(true)
		r.waitState(Degraded)
		det = append(det, time.Since(t0))
		r.waitState(Restarting)
		rst = append(rst, time.Since(t0))
		r.net.dropAll.Store(false)
		r.waitState(Connected)
		c.waitFrames(5)
	}
	b.StopTimer()
	r.stop()
	cold, _ := coldChange(b, 5)
	b.ReportMetric(ms(testenv.Median(det)), "detect_ms")
	b.ReportMetric(ms(testenv.Median(rst)), "restart_begins_ms")
	b.ReportMetric(ms(cold), "cold_ms")
}

// BenchmarkICERestart: the path comes back the moment the restart begins;
// time until frames are assembled at the customer again.
func BenchmarkICERestart(b *testing.B) {
	b.ReportAllocs()
	r := newHarness(b, clockwork.NewRealClock())
	r.waitStandby()
	c := r.join("cust")
	defer c.close()
	r.waitState(Connected)
	c.waitFrames(5)
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.drainStates()
		r.net.dropAll.Store(true)
		r.waitState(Restarting)
		t0 := time.Now()
		r.net.dropAll.Store(false)
		c.waitFrames(1)
		ds = append(ds, time.Since(t0))
		r.waitState(Connected)
		c.waitFrames(5)
	}
	b.StopTimer()
	r.stop()
	cold, _ := coldChange(b, 5)
	restart := testenv.Median(ds)
	b.ReportMetric(ms(restart), "restart_ms")
	b.ReportMetric(ms(cold), "cold_ms")
	b.ReportMetric(float64(restart)/float64(cold), "ratio_vs_cold")
}

// BenchmarkCustomerChangeTURN: as BenchmarkCustomerChange, but UDP between
// the peers is blocked and the only path is a TURN relay. The standby has
// its relay allocation before the customer comes; a cold PeerConnection
// must allocate after room:user:joined.
func BenchmarkCustomerChangeTURN(b *testing.B) {
	b.ReportAllocs()
	viaTURN := func(r *harness) {
		r.net.dropPeers.Store(true)
		r.peer.SetICEServers(startTURN(b, r))
	}
	r := newHarness(b, clockwork.NewRealClock())
	viaTURN(r)
	r.waitStandby()
	r.changeOnce("warmup")
	var fs, cs []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.waitStandby()
		f, _, c := r.changeOnce3(fmt.Sprintf("warm-%d", i))
		fs, cs = append(fs, f), append(cs, c)
	}
	b.StopTimer()
	r.stop()
	warm, warmConn := testenv.Median(fs), testenv.Median(cs)
	cold, _, coldConn := coldChange3(b, max(5, b.N), viaTURN)
	b.ReportMetric(ms(warm), "change_ms")
	b.ReportMetric(ms(cold), "cold_ms")
	b.ReportMetric(float64(warm)/float64(cold), "ratio_vs_cold")
	b.ReportMetric(ms(warmConn), "connect_ms")
	b.ReportMetric(ms(coldConn), "cold_connect_ms")
	b.ReportMetric(float64(warmConn)/float64(coldConn), "connect_ratio_vs_cold")
}
