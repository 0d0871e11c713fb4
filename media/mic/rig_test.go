//go:build rig && linux

package mic

// Real-kernel test against snd-aloop, run in the emulated-board rig:
//
//	modprobe snd-aloop
//	go test -tags rig ./media/mic
//
// Nothing plays into the loopback, so the capture side delivers silence,
// but at the device's own 48 kHz pace: one second of audio takes about one
// second.

import (
	"context"
	"testing"
	"time"
)

func TestRigLoopbackCapture(t *testing.T) {
	path, err := Find("Loopback")
	if err != nil {
		t.Skipf("no snd-aloop capture device (modprobe snd-aloop): %v", err)
	}
	m, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]int16, 960)
	if _, err := m.ReadPCM(ctx, buf); err != nil { // the stream starts on the first read
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 50; i++ {
		if _, err := m.ReadPCM(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("one second of samples took %v", d)
	}
	t.Logf("%s: %d channel(s), %d overruns", path, m.Channels(), m.Overruns())
}
