//go:build rig && linux

package speaker

// Real-kernel test against snd-aloop, run in the emulated-board rig:
//
//	TETHER_RIG=x86_64 TETHER_RIG_PKGS=./media/speaker go test -count=1 -timeout 60m -run TestGuestSuites -v ./board/rig
//
// snd-aloop loops playback on its device 0 to capture on its device 1 (same
// subdevice), so what the speaker writes is read back by the microphone's
// driver (media/mic) at the card's own 48 kHz pace.

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/media/mic"
	"tether/media/testsrc"
)

// loopbackNodes returns snd-aloop's playback node and the capture node it
// loops to.
func loopbackNodes(t *testing.T) (play, capture string) {
	t.Helper()
	play, err := Find("Loopback")
	if err != nil {
		t.Skipf("no snd-aloop playback device (CONFIG_SND_ALOOP): %v", err)
	}
	if !strings.HasSuffix(play, "D0p") {
		t.Fatalf("first Loopback playback node %s is not device 0", play)
	}
	return play, strings.TrimSuffix(play, "D0p") + "D1c"
}

// captured is the microphone's stream with the capture time of every
// 20 ms chunk (the emulated card's clock need not keep wall time, so the
// sample count alone does not date a sample).
type captured struct {
	mu  sync.Mutex
	at  []time.Time
	pcm []int16
}

// when dates sample i by its chunk's capture time.
func (c *captured) when(i int) time.Time {
	return c.at[i/960].Add(time.Duration(i%960) * time.Second / Rate)
}

func (c *captured) run(ctx context.Context, t *testing.T, m *mic.Mic) {
	buf := make([]int16, 960)
	for ctx.Err() == nil {
		at, err := m.ReadPCM(ctx, buf)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("capture: %v", err)
			}
			return
		}
		c.mu.Lock()
		c.at = append(c.at, at)
		c.pcm = append(c.pcm, buf...)
		c.mu.Unlock()
	}
}

// onset finds the first 5 ms window from sample from on holding freq, and
// returns its sample index (-1 if none).
func onset(pcm []int16, from int, freq float64) int {
	const win = 240
	for off := max(0, from); off+win <= len(pcm); off += win / 2 {
		w := pcm[off : off+win]
		if testsrc.LevelDB(w) > -30 && testsrc.ToneDB(w, freq) > -6 {
			return off
		}
	}
	return -1
}

func tone(freq float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/Rate))
	}
	return out
}

// TestRigLoopbackPlayback plays a pattern of tone bursts (alternately
// 1 kHz and 1.5 kHz, 100 ms each, 300 ms apart) through the real
// snd-aloop driver, reads it back through the loopback's capture side,
// recognises every burst in order and measures the latency from the
// speaker write to the sample read back. A pause longer than the ring
// forces a real underrun (EPIPE), recovered by PREPARE, after which the
// pattern still arrives.
func TestRigLoopbackPlayback(t *testing.T) {
	play, capPath := loopbackNodes(t)
	m, err := mic.Open(mic.Config{Path: capPath})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := Open(Config{Path: play})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c captured
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.run(ctx, t, m) }()

	freqs := []float64{1000, 1500, 1000, 1500, 1000, 1500}
	silence := make([]int16, 960)
	var written []time.Time
	for i, f := range freqs {
		for j := 0; j < 15; j++ { // 300 ms
			if err := s.Write(ctx, silence); err != nil {
				t.Fatal(err)
			}
		}
		if i == 3 {
			time.Sleep(100 * time.Millisecond) // the 30 ms ring runs dry
		}
		burst := tone(f, 4800)
		written = append(written, time.Now())
		for off := 0; off < len(burst); off += 960 {
			if err := s.Write(ctx, burst[off:off+960]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for j := 0; j < 15; j++ {
		if err := s.Write(ctx, silence); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the tail reaches the capture
	cancel()
	wg.Wait()

	c.mu.Lock()
	defer c.mu.Unlock()
	var lat []time.Duration
	from := 0
	for i, f := range freqs {
		at := onset(c.pcm, from, f)
		if at < 0 {
			t.Fatalf("burst %d (%v Hz) not found in %d captured samples", i, f, len(c.pcm))
		}
		if other := onset(c.pcm[:at+240], from, freqs[(i+1)%2]); other >= 0 && i > 0 {
			t.Fatalf("burst %d: %v Hz heard where %v Hz was played", i, freqs[(i+1)%2], f)
		}
		heard := c.when(at)
		lat = append(lat, heard.Sub(written[i]))
		from = at + 2*4800 // past the burst, with 100 ms to spare
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%s -> %s: %d bursts recognised in order; speaker write -> captured: median %v (min %v, max %v); %d underrun(s) recovered, %d channel(s)",
		play, capPath, len(freqs), lat[len(lat)/2], lat[0], lat[len(lat)-1], s.Underruns(), s.Channels())
	if s.Underruns() < 1 {
		t.Errorf("the 100 ms pause caused no underrun")
	}
}
