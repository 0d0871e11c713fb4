package testsrc

import (
	"context"
	"testing"
	"time"
)

// TestSpeaker: the speaker keeps at most Keep samples, the newest, and
// paces its writer: 200 ms of sound written into a 30 ms ring takes at
// least the 170 ms that do not fit (a lower bound, never an upper one).
func TestSpeaker(t *testing.T) {
	s := &Speaker{Keep: 4800}
	if _, err := s.Open(); err != nil || s.Opens() != 1 {
		t.Fatalf("open: %v, %d opens", err, s.Opens())
	}
	start := time.Now()
	chunk := make([]int16, 960)
	for i := range 10 {
		for j := range chunk {
			chunk[j] = int16(i)
		}
		if err := s.Write(context.Background(), chunk); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 170*time.Millisecond {
		t.Fatalf("200 ms written in %v: not paced", d)
	}
	pcm, end := s.Played(time.Second)
	if len(pcm) != 4800 || pcm[0] != 5 || pcm[len(pcm)-1] != 9 {
		t.Fatalf("kept %d samples from %d to %d, want the last 4800 (chunks 5..9)", len(pcm), pcm[0], pcm[len(pcm)-1])
	}
	if !end.After(start.Add(200 * time.Millisecond)) {
		t.Fatalf("the last sample plays at %v, before the 200 ms written from %v", end, start)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, make([]int16, 48000)); err == nil {
		t.Fatal("a write into a full ring ignored its ended context")
	}
}
