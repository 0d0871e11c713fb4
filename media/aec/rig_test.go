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
	"math/rand/v2"
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
	m, err := mic.Open(mic.Config{Path: capPath})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// An 80 ms ring: the emulated guest's scheduling is coarse.
	s, err := speaker.Open(speaker.Config{Path: play, Periods: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const seconds = 6
	far := speechLike(seconds*Rate, 5)
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
		r := rand.New(rand.NewPCG(6, 7))
		buf := make([]int16, 960)
		for ctx.Err() == nil {
			if _, err := m.ReadPCM(ctx, buf); err != nil {
				if ctx.Err() == nil {
					t.Errorf("capture: %v", err)
				}
				return
			}
			for i, v := range buf { // the room: -10 dB, a -65 dBFS floor
				buf[i] = int16(0.32*float64(v) + r.NormFloat64()*18)
			}
			backlog := m.Backlog()
			mu.Lock()
			near = append(near, buf...)
			calls = append(calls, call{-len(near) / 960, backlog, time.Now()})
			mu.Unlock()
		}
	}()
	silence := make([]int16, 960)
	chunks := len(far) / 960
	for i := 0; i < chunks+25 && ctx.Err() == nil; i++ { // the speaker's, then a silent tail
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
		mu.Unlock()
	}
	cancel()
	wg.Wait()

	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	c, err := New(Config{Clock: mock})
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
	db, conv := erle(near, out, 2*time.Second, 25)
	t.Logf("%s -> %s: ERLE %.1f dB after 2 s, converged at %v (%.1f s captured; stream offset re-taken %d times; %d underruns)",
		play, capPath, db, conv, float64(len(near))/Rate, c.Retakes(), s.Underruns())
	// An underrun shifts the echo against its reference by the gap and
	// the filter learns the path afresh: the goal is judged on a run
	// without one. A loaded emulated guest may not manage that; then the
	// figures are reported and the run skipped, not passed.
	if s.Underruns() > 0 {
		t.Skipf("the guest could not keep the speaker fed (%d underruns): ERLE %.1f dB not judged", s.Underruns(), db)
	}
	if db < 25 {
		t.Errorf("ERLE %.1f dB through snd-aloop, want >= 25", db)
	}
}
