package aec

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/jonboulle/clockwork"

	"tether/media/testsrc"
)

// speechLike is n samples of a voice stand-in: lowpassed noise (most energy
// under 1 kHz) in 4 Hz syllables with pauses, about -20 dBFS while
// talking. An adaptive filter converges on it as on speech; a pure tone
// would flatter it.
func speechLike(n int, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, n)
	var y1, y2 float64
	for i := range out {
		x := r.NormFloat64()
		y := 1.6*y1 - 0.68*y2 + 0.08*x // two-pole lowpass, resonant near 700 Hz
		y2, y1 = y1, y
		t := float64(i) / Rate
		env := math.Max(0, math.Sin(2*math.Pi*4*t)) // syllables
		if math.Mod(t, 3) > 2.4 {                   // a pause every 3 s
			env = 0
		}
		out[i] = int16(math.Max(-32767, math.Min(32767, y*env*9000)))
	}
	return out
}

// echoPath is the synthetic room: the speaker's sound comes back to the
// microphone delay later, attenuated by 10 dB, with two weaker
// reflections, over a -65 dBFS noise floor.
type echoPath struct {
	delay time.Duration
	taps  []struct {
		at   time.Duration
		gain float64
	}
	noise float64
}

func defaultPath(delay time.Duration) echoPath {
	p := echoPath{delay: delay, noise: 18}
	p.taps = append(p.taps, struct {
		at   time.Duration
		gain float64
	}{0, 0.32}, struct {
		at   time.Duration
		gain float64
	}{5 * time.Millisecond, 0.1}, struct {
		at   time.Duration
		gain float64
	}{12 * time.Millisecond, 0.04})
	return p
}

func (p echoPath) apply(far []int16, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 2))
	near := make([]int16, len(far))
	for i := range near {
		v := r.NormFloat64() * p.noise
		for _, tap := range p.taps {
			j := i - int((p.delay+tap.at)*Rate/time.Second)
			if j >= 0 {
				v += tap.gain * float64(far[j])
			}
		}
		near[i] = int16(math.Max(-32767, math.Min(32767, v)))
	}
	return near
}

// run passes far and near through c in 20 ms chunks as the appliance's
// two goroutines do: the speaker's ring holds 40 ms written ahead of what
// plays (so the reference the Lead asks for is there), and each chunk
// of the microphone is handed over as it completes, when far sample
// off+chunk plays (near holds the echo of what played, delayed by the
// path). It returns the output.
func run(t testing.TB, c *Canceller, far, near []int16) []int16 {
	out := append([]int16(nil), near...)
	const chunk, ahead = 960, 2 * 960
	w := 0 // far samples written
	for off := 0; off+chunk <= len(far); off += chunk {
		for ; w < off+chunk+ahead && w+chunk <= len(far); w += chunk {
			c.Playback(far[w:w+chunk], time.Duration(w+chunk-(off+chunk))*time.Second/Rate)
		}
		if err := c.Capture(out[off:off+chunk], 0); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func energy(s []int16) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	return e
}

// erle returns the echo return loss enhancement (dB) over the windows of
// near where the echo is loud (well above the noise floor), from from on,
// and the convergence time: the start of the first 500 ms stretch after
// which every loud 100 ms window's ERLE stays at or above goal.
func erle(near, out []int16, from time.Duration, goal float64) (db float64, conv time.Duration) {
	db, conv, _ = erleJudged(near, out, from, goal, nil)
	return db, conv
}

// erleJudged is erle over the windows judged(offset) keeps (all when
// judged is nil), and how much loud signal was judged.
func erleJudged(near, out []int16, from time.Duration, goal float64, judged func(off int) bool) (db float64, conv, loudJudged time.Duration) {
	const win = Rate / 10
	var en, eo float64
	conv = -1
	for off := 0; off+win <= len(near); off += win {
		n, o := energy(near[off:off+win]), energy(out[off:off+win])
		loud := n > float64(win)*200*200 // above -44 dBFS
		at := time.Duration(off) * time.Second / Rate
		if loud {
			e := 10 * math.Log10(n/math.Max(o, 1))
			if e < goal {
				conv = -1
			} else if conv < 0 {
				conv = at
			}
		}
		if at >= from && loud && (judged == nil || judged(off)) {
			en += n
			eo += o
			loudJudged += time.Second / 10
		}
	}
	return 10 * math.Log10(en/math.Max(eo, 1)), conv, loudJudged
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{Frame: 7}); !errors.Is(err, ErrConfig) {
		t.Fatalf("tiny frame: %v", err)
	}
	if !Available {
		if _, err := New(Config{}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("cgo off: %v", err)
		}
		return
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Capture(make([]int16, 100), 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("odd chunk: %v", err)
	}
	c.Close()
	if err := c.Capture(make([]int16, 960), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	c.Playback(make([]int16, 960), 0) // ignored, no panic
}

// TestDoubleTalk: the counter speaking over the customer (a 1 kHz tone at
// -20 dBFS while the far end talks) still reaches the customer.
func TestDoubleTalk(t *testing.T) {
	if !Available {
		t.Skip("cgo off: no canceller")
	}
	far := speechLike(8*Rate, 3)
	near := defaultPath(33*time.Millisecond).apply(far, 4)
	start, end := 5*Rate, 6*Rate
	for i := start; i < end; i++ {
		v := float64(near[i]) + 3277*math.Sin(2*math.Pi*1000*float64(i)/Rate)
		near[i] = int16(math.Max(-32767, math.Min(32767, v)))
	}
	c, err := New(Config{NoAGC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := run(t, c, far, near)
	// The tone's power at 1 kHz, in and out, over the last half of the
	// stretch (the suppressor has settled).
	in, got := testsrc.TonePower(near[start+Rate/2:end], 1000), testsrc.TonePower(out[start+Rate/2:end], 1000)
	loss := 10 * math.Log10(in/got)
	t.Logf("near-end tone through the canceller during double talk: %.1f dB lost", loss)
	if loss > 10 {
		t.Fatalf("the counter's voice is cut by %.1f dB while the customer talks", loss)
	}
}

// TestCancels: the synthetic echo is cancelled by at least 25 dB after
// the first two seconds, and the reference queue holds its bound.
func TestCancels(t *testing.T) {
	if !Available {
		t.Skip("cgo off: no canceller")
	}
	far := speechLike(8*Rate, 1)
	near := defaultPath(33*time.Millisecond).apply(far, 2)
	for _, pre := range []bool{false, true} {
		c, err := New(Config{NoPreprocess: !pre})
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, c, far, near)
		db, conv := erle(near, out, 2*time.Second, 25)
		t.Logf("preprocess %v: ERLE %.1f dB after 2 s, converged (every loud 100 ms window >= 25 dB) at %v", pre, db, conv)
		// The goal (issue 15) holds for the canceller as shipped; the
		// adaptive filter alone is logged for the record.
		if pre && (db < 25 || conv < 0 || conv > 2*time.Second) {
			t.Errorf("ERLE %.1f dB, convergence %v; want >= 25 dB within 2 s", db, conv)
		}
		if a := testing.AllocsPerRun(10, func() { c.Playback(far[:960], 0); c.Capture(out[:960], 0) }); a != 0 {
			t.Errorf("allocates %v per chunk", a)
		}
		c.Close()
	}
	if testing.Verbose() && os.Getenv("TETHER_AEC_DUMP") != "" {
		dir := os.Getenv("TETHER_AEC_DUMP")
		for name, s := range map[string][]int16{"far.s16": far, "near.s16": near} {
			b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 2*len(s))
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAlignmentFromTiming: the microphone's goroutine reads in bursts (a
// loaded board: four 20 ms chunks at once every 80 ms), the speaker's
// writes are regular, and the two streams start at unrelated positions.
// Call order says nothing then; the rings' fill levels and the clock do,
// and the canceller still reaches the goal.
func TestAlignmentFromTiming(t *testing.T) {
	if !Available {
		t.Skip("cgo off: no canceller")
	}
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	c, err := New(Config{Clock: mock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const (
		secs    = 8
		chunk   = 960
		ring    = 1440 // the speaker's 30 ms ring, kept full
		micLate = 3000 // the microphone's stream starts 62.5 ms after the speaker's
		air     = 48   // 1 ms from speaker to microphone
	)
	far := speechLike(secs*Rate, 9)
	// Card time s (samples): the speaker plays far[s-ring] (it filled its
	// ring at once), the microphone captures near[s-micLate], which holds
	// the echo of what played air earlier.
	near := make([]int16, len(far))
	for m := range near {
		if j := m + micLate - ring - air; j >= 0 && j < len(far) {
			near[m] = int16(0.32 * float64(far[j]))
		}
	}
	out := append([]int16(nil), near...)
	read := 0
	for step := 0; (step+1)*chunk <= len(far); step++ {
		s := step*chunk + chunk // card time after this step
		mock.Advance(time.Unix(0, 0).Add(time.Duration(s) * time.Second / Rate).Sub(mock.Now()))
		w := min(s+ring, len(far)) / chunk * chunk // written: the ring kept full
		c.Playback(far[max(0, w-chunk):w], time.Duration(w-s)*time.Second/Rate)
		if step%4 != 3 {
			continue
		}
		for captured := s - micLate; read+chunk <= captured && read+chunk <= len(near); read += chunk {
			backlog := captured - read - chunk
			if err := c.Capture(out[read:read+chunk], time.Duration(backlog)*time.Second/Rate); err != nil {
				t.Fatal(err)
			}
		}
	}
	db, conv := erle(near[:read], out[:read], 2*time.Second, 25)
	t.Logf("bursty capture: ERLE %.1f dB after 2 s, converged at %v, offset re-taken %d times", db, conv, c.Retakes())
	if db < 25 || conv < 0 || conv > 2*time.Second {
		t.Fatalf("ERLE %.1f dB, convergence %v; want >= 25 dB within 2 s", db, conv)
	}
}

// TestCompareWebRTC scores another canceller's output on the dump
// TestCancels writes (TETHER_AEC_DUMP): TETHER_AEC_COMPARE names the dir
// holding near.s16 and the outputs (*.out.s16) of compare/webrtc_apm. See
// compare/README.md.
func TestCompareWebRTC(t *testing.T) {
	dir := os.Getenv("TETHER_AEC_COMPARE")
	if dir == "" {
		t.Skip("set TETHER_AEC_COMPARE (see compare/README.md)")
	}
	near := readS16(t, filepath.Join(dir, "near.s16"))
	outs, _ := filepath.Glob(filepath.Join(dir, "*.out.s16"))
	if len(outs) == 0 {
		t.Fatalf("no *.out.s16 in %s", dir)
	}
	for _, p := range outs {
		out := readS16(t, p)
		n := min(len(near), len(out))
		db, conv := erle(near[:n], out[:n], 2*time.Second, 25)
		t.Logf("%s: ERLE %.1f dB after 2 s, converged at %v", filepath.Base(p), db, conv)
	}
}

func readS16(t *testing.T, p string) []int16 {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// BenchmarkERLE reports the shipped canceller's ERLE after 2 s and its
// convergence time on the synthetic echo path (issue 15's goals: >= 25 dB,
// < 2 s), and the adaptive filter's alone.
func BenchmarkERLE(b *testing.B) {
	if !Available {
		b.Skip("cgo off: no canceller")
	}
	far := speechLike(8*Rate, 1)
	near := defaultPath(33*time.Millisecond).apply(far, 2)
	for _, bc := range []struct {
		name string
		cfg  Config
	}{{"shipped", Config{}}, {"filter-only", Config{NoPreprocess: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			var db float64
			var conv time.Duration
			for b.Loop() {
				c, err := New(bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				db, conv = erle(near, run(b, c, far, near), 2*time.Second, 25)
				c.Close()
			}
			b.ReportMetric(db, "ERLE-dB")
			b.ReportMetric(conv.Seconds(), "converged-s")
			// Wall time per second of audio (8 s of it per iteration): the CPU
			// the canceller needs on an idle machine.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/8/1e6, "ms-wall/s-audio")
		})
	}
}

// BenchmarkCapture20ms is the canceller's cost per 20 ms microphone chunk
// (with its reference), against BenchmarkCopy20msBaseline.
func BenchmarkCapture20ms(b *testing.B) {
	if !Available {
		b.Skip("cgo off: no canceller")
	}
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	far := speechLike(Rate, 1)
	near := defaultPath(33*time.Millisecond).apply(far, 2)
	buf := make([]int16, 960)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		off := (i % 49) * 960
		c.Playback(far[off:off+960], 0)
		copy(buf, near[off:off+960])
		c.Capture(buf, 0)
		i++
	}
}

func BenchmarkCopy20msBaseline(b *testing.B) {
	far := speechLike(Rate, 1)
	buf := make([]int16, 960)
	i := 0
	for b.Loop() {
		off := (i % 49) * 960
		copy(buf, far[off:off+960])
		i++
	}
}

// TestShortEchoPath: a speaker beside the microphone (1 ms of air) is
// cancelled: the echo arrives about when the streams' timing says, and
// the reference must lead it (Config.Lead), not trail it. With the lead
// applied the wrong way round the echo preceded its reference and nothing
// was cancelled (-2.5 dB through snd-aloop in the rig, whose loop adds no
// path at all).
func TestShortEchoPath(t *testing.T) {
	if !Available {
		t.Skip("cgo off: no canceller")
	}
	far := speechLike(6*Rate, 7)
	near := defaultPath(time.Millisecond).apply(far, 8)
	c, err := New(Config{NoPreprocess: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db, conv := erle(near, run(t, c, far, near), 2*time.Second, 25)
	t.Logf("1 ms path: ERLE %.1f dB after 2 s, converged at %v", db, conv)
	if db < 25 {
		t.Fatalf("ERLE %.1f dB on a 1 ms echo path, want >= 25", db)
	}
}
