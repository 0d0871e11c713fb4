//go:build rig && linux && cgo

package aec

// The echo canceller on a synthetic echo through real snd-aloop, in the
// emulated-board rig. The rig builds guest tests with cgo off unless told:
//
//	TETHER_RIG_CGO=1 TETHER_RIG=x86_64 TETHER_RIG_PKGS=./media/aec go test -count=1 -timeout 60m -run TestGuestSuites -v ./board/rig
//
// The appliance's two paths with real drivers: a goroutine writes the far
// end (the customer's voice stand-in) to the speaker (media/speaker) and
// hands every chunk to Playback after its Write; another reads the
// microphone (media/mic) and hands every chunk to Capture. snd-aloop loops
// the speaker's device 0 to the microphone's device 1 with the drivers'
// real buffering and timing; the room's -10 dB and noise floor are added to
// what the microphone reads (the loop itself is a perfect wire).
//
// The emulated guest is far too slow to run speexdsp in real time beside
// the two streams, so the run is recorded (both streams, and every
// Playback and Capture call with its ring fill and time) and the canceller
// is replayed over the recording on a mock clock: the alignment it sees is
// the real drivers'.

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/mic"
	"tether/media/speaker"
)

func TestRigEchoThroughLoopback(t *testing.T) {
	play, err := speaker.Find("Loopback")
	if err != nil {
		t.Skipf("no snd-aloop playback device (CONFIG_SND_ALOOP): %v", err)
	}
	capPath := strings.TrimSuffix(play, "D0p") + "D1c"
	// An 800 ms capture ring (4 periods of 200 ms) for the same reason:
	// with the default 80 ms the loaded guest overran it a dozen times,
	// and with 400 ms still 4 times. A starved guest may also stall the
	// loop's timer for over a second.
	m, err := mic.Open(mic.Config{Path: capPath, PeriodFrames: 9600, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A 1.6 s ring (16 periods of 100 ms): the emulated guest's
	// scheduling is coarse and, on a loaded host, it stalls the writer for
	// far longer than the appliance's 30 ms ring (7-12 underruns in 6 s
	// with 80 ms, 8 in 10 s with 320 ms). The canceller aligns by the
	// ring's fill, so a deep ring costs it nothing but History.
	const ring = 16 * 4800
	s, err := speaker.Open(speaker.Config{Path: play, PeriodFrames: 4800, Periods: 16, WriteTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const seconds = 8
	// The far end starts with the ring's worth of silence, written in one
	// go so the stream starts with a full ring (the first writes, one chunk
	// at a time, underran at once in the emulated guest).
	far := append(make([]int16, ring), speechLike(seconds*Rate, 5)...)
	var near []int16
	// calls records the calls as the appliance makes them: a positive n is
	// Playback of far chunk n-1, a negative one Capture of near chunk -n-1,
	// each with the ring's fill right after and the time.
	type call struct {
		n    int
		fill time.Duration
		at   time.Time
	}
	var mu sync.Mutex
	var calls []call
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the microphone's goroutine
		defer wg.Done()
		buf := make([]int16, 960)
		for ctx.Err() == nil {
			if _, err := m.ReadPCM(ctx, buf); err != nil {
				if ctx.Err() == nil {
					t.Errorf("capture: %v", err)
				}
				return
			}
			backlog := m.Backlog()
			mu.Lock()
			near = append(near, buf...)
			calls = append(calls, call{-len(near) / 960, backlog, time.Now()})
			mu.Unlock()
		}
	}()
	// xrunAt are the far sample indexes at which a writer noticed an
	// underrun (or the microphone an overrun).
	var xrunAt []int
	xruns := 0
	silence := make([]int16, 960)
	chunks := len(far) / 960
	prefill := ring / 960
	if err := s.Write(ctx, far[:ring]); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for k := 0; k < prefill; k++ {
		calls = append(calls, call{k + 1, time.Duration((k+1)*960) * time.Second / Rate, time.Now()})
	}
	xruns = s.Underruns() + m.Overruns()
	mu.Unlock()
	for i := prefill; i < chunks+25 && ctx.Err() == nil; i++ { // the speaker's, then a silent tail
		chunk := silence
		if i < chunks {
			chunk = far[i*960 : (i+1)*960]
		}
		if err := s.Write(ctx, chunk); err != nil {
			t.Fatal(err)
		}
		queued, err := s.Delay()
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		calls = append(calls, call{i + 1, queued, time.Now()})
		if u := s.Underruns() + m.Overruns(); u > xruns {
			xruns, xrunAt = u, append(xrunAt, i*960)
		}
		mu.Unlock()
	}
	cancel()
	wg.Wait()

	// The room, added after the run so the microphone's goroutine does
	// nothing but read: -10 dB, a -65 dBFS floor.
	r := rand.New(rand.NewPCG(6, 7))
	for i, v := range near {
		near[i] = int16(0.32*float64(v) + r.NormFloat64()*18)
	}
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	c, err := New(Config{Clock: mock, History: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := append([]int16(nil), near...)
	for _, k := range calls {
		mock.Advance(k.at.Sub(mock.Now()))
		switch n := k.n; {
		case n > chunks:
			c.Playback(silence, k.fill)
		case n > 0:
			c.Playback(far[(n-1)*960:n*960], k.fill)
		default:
			j := -n - 1
			if err := c.Capture(out[j*960:(j+1)*960], k.fill); err != nil {
				t.Fatal(err)
			}
		}
	}
	near = near[:min(len(near), len(far))]
	out = out[:len(near)]
	// An xrun shifts the echo against its reference by the gap, and the
	// filter learns the path afresh (within the 1 s convergence of the
	// synthetic benchmark). The goal is judged on the windows clear of
	// one: from the ring's length before the far sample at which it was
	// noticed (capture trails playback by about the ring) to 1.5 s after.
	judged := func(off int) bool {
		for _, x := range xrunAt {
			if off+Rate/10 > x-ring-Rate/10 && off < x+3*Rate/2 {
				return false
			}
		}
		return true
	}
	from := 2*time.Second + time.Duration(ring)*time.Second/Rate // 2 s of speech
	timed, _, _ := erleJudged(near, out, from, 25, judged)

	// The same recording replayed with the stream offset taken from the
	// loop's latency as the recording shows it (snd-aloop is a wire: the
	// echo is the far end delayed by a fixed lag until the first xrun),
	// not from the emulated guest's time stamps and ring fills: what the
	// canceller does with the real driver's data when its alignment is
	// right. The figure above is the appliance's own alignment in the
	// guest, reported beside it.
	clear := len(near)
	if len(xrunAt) > 0 {
		clear = max(0, min(clear, xrunAt[0]-ring-Rate/10))
	}
	lag := loopLag(far[:clear], near[:clear], ring+2*Rate)
	out2 := replayAtLag(t, far, near, lag)
	db, conv, loud := erleJudged(near, out2, from, 25, func(off int) bool { return off+Rate/10 <= clear })
	t.Logf("%s -> %s: loop latency %.1f ms; ERLE %.1f dB after 2 s of speech, over %v of it before the first xrun, converged at %v (aligned by the loop's latency); "+
		"aligned by the guest's timing as the appliance does: %.1f dB clear of xruns, offset %d samples (the loop says %d), re-taken %d times; "+
		"%.1f s captured; %d underruns, %d overruns at far samples %v",
		play, capPath, float64(lag)*1000/Rate, db, loud, conv, timed, c.off, -lag+int64(c.cfg.Lead.Seconds()*Rate), c.Retakes(),
		float64(len(near))/Rate, s.Underruns(), m.Overruns(), xrunAt)
	// A loaded emulated guest may not keep the streams going long enough
	// for a judgement: then the figures are reported and the run skipped,
	// not passed.
	if loud < time.Second {
		t.Skipf("only %v of speech before the first xrun (%d): ERLE %.1f dB not judged", loud, len(xrunAt), db)
	}
	if db < 25 {
		t.Errorf("ERLE %.1f dB through snd-aloop, want >= 25", db)
	}
}

// loopLag finds the lag (in samples, up to maxLag) at which near best
// matches far: first on 1 ms energy envelopes, then sample by sample
// within 2 ms of that.
func loopLag(far, near []int16, maxLag int) int64 {
	const blk = Rate / 1000
	env := func(x []int16) []float64 {
		e := make([]float64, len(x)/blk)
		var mean float64
		for i := range e {
			for _, v := range x[i*blk : (i+1)*blk] {
				e[i] += math.Abs(float64(v))
			}
			mean += e[i]
		}
		mean /= float64(max(len(e), 1))
		for i := range e {
			e[i] -= mean
		}
		return e
	}
	fe, ne := env(far), env(near)
	best, bestL := math.Inf(-1), 0
	for l := 0; l <= maxLag/blk && l < len(ne); l++ {
		var s float64
		for i := l; i < len(ne); i++ {
			s += ne[i] * fe[i-l]
		}
		if s > best {
			best, bestL = s, l
		}
	}
	best, lag := math.Inf(-1), bestL*blk
	for l := max(0, bestL*blk-2*blk); l <= bestL*blk+2*blk; l++ {
		var s float64
		for i := l; i < len(near) && i < l+Rate; i++ {
			s += float64(near[i]) * float64(far[i-l])
		}
		if s > best {
			best, lag = s, l
		}
	}
	return int64(lag)
}

// replayAtLag runs a fresh canceller over near with far as its reference,
// on a mock clock whose calls say that the echo lags the far end by lag
// samples: far sample x plays at card time x; each 20 ms chunk is written
// 40 ms ahead (Playback with its ring's fill), and each microphone chunk
// is handed over when its last sample's echo played.
func replayAtLag(t *testing.T, far, near []int16, lag int64) []int16 {
	t.Helper()
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	c, err := New(Config{Clock: mock, History: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type ev struct {
		at   time.Duration
		play bool
		n    int
	}
	var evs []ev
	const ahead = 2 * 960
	for k := 0; k < len(far)/960; k++ {
		evs = append(evs, ev{time.Duration(k*960-ahead) * time.Second / Rate, true, k})
	}
	for j := 0; j < len(near)/960; j++ {
		evs = append(evs, ev{time.Duration(int64((j+1)*960)-lag) * time.Second / Rate, false, j})
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].at < evs[b].at })
	t0 := time.Unix(1_000_000, 0)
	out := append([]int16(nil), near...)
	for _, e := range evs {
		mock.Advance(t0.Add(e.at).Sub(mock.Now()))
		if e.play {
			c.Playback(far[e.n*960:(e.n+1)*960], (960+ahead)*time.Second/Rate)
		} else if err := c.Capture(out[e.n*960:(e.n+1)*960], 0); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
