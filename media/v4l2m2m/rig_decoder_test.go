//go:build rig && linux

package v4l2m2m

// The stateful decoder against a real driver: vicodec's FWHT decoder node
// (dev-decoder.rst through vicodec-core.c), fed with frames coded by
// vicodec's own encoder from the stamped test pattern. It proves the
// buffer flow (OUTPUT/CAPTURE, timestamps copied), Initialization step 4
// (the first source change), Dynamic Resolution Change (640x480 to
// 1280x720 mid-stream) and Drain, and that the pictures are the ones sent
// (the stamp decodes).

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"tether/media/testsrc"
	"tether/media/v4l2"
)

type fwhtUnit struct {
	data  []byte
	stamp uint64
}

// fwhtUnits codes n frames of the test pattern at w x h with vicodec's
// encoder; frame i is stamped base+i ms.
func fwhtUnits(t *testing.T, enc string, w, h, n int, base uint64) []fwhtUnit {
	t.Helper()
	var units []fwhtUnit
	// The Sink runs on Run's goroutine while this one still adds stamps
	// (a concurrent map read and write crashed the arm64 guest).
	var mu sync.Mutex
	stamps := map[time.Duration]uint64{}
	e, err := New(Config{
		Open: OpenPath(enc), Width: w, Height: h, PixelFormat: v4l2.PixFmtYUV420, CodedFormat: v4l2.PixFmtFWHT,
		Sink: func(au AccessUnit) {
			mu.Lock()
			units = append(units, fwhtUnit{data: append([]byte(nil), au.Data...), stamp: stamps[au.Timestamp]})
			mu.Unlock()
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	p, err := testsrc.NewPattern(w, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		ts := time.Duration(i+1) * time.Millisecond
		mu.Lock()
		stamps[ts] = base + uint64(i)
		mu.Unlock()
		ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.Encode(ectx, Frame{Data: p.Render(uint64(i), time.UnixMilli(int64(base)+int64(i))), Timestamp: ts})
		ecancel()
		if err != nil {
			t.Fatalf("encode %d: %v", i, err)
		}
	}
	cancel() // drains: every unit comes out before Run returns
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("encoder did not drain")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(units) != n {
		t.Fatalf("%d FWHT units for %d frames", len(units), n)
	}
	return units
}

func TestRigDecoderFWHT(t *testing.T) {
	encPath := vicodecEncoder(t)
	info, err := FindDecoder(v4l2.PixFmtFWHT, "vicodec")
	if err != nil {
		t.Skipf("no vicodec stateful decoder: %v", err)
	}
	small := fwhtUnits(t, encPath, 640, 480, 6, 1_700_000_000_000)
	large := fwhtUnits(t, encPath, 1280, 720, 4, 1_700_000_100_000)

	dec, err := NewDecoder(DecoderConfig{Open: OpenPath(info.Path), CodedFormat: v4l2.PixFmtFWHT,
		Wait: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	all := append(append([]fwhtUnit(nil), small...), large...)
	seen := 0
	check := func(p Picture) {
		t.Helper()
		idx := int(p.Timestamp/time.Microsecond) - 1 // Decode numbers units 1, 2, …
		if idx < 0 || idx >= len(all) {
			t.Fatalf("picture timestamp %v matches no unit", p.Timestamp)
		}
		wantW := 640
		if idx >= len(small) {
			wantW = 1280
		}
		if p.Width != wantW {
			t.Errorf("unit %d decoded at %dx%d, want width %d", idx, p.Width, p.Height, wantW)
		}
		y, _, _, _ := p.Planes()
		ms, err := testsrc.Decode(y, p.Stride, p.Width)
		if err != nil || ms != all[idx].stamp {
			t.Errorf("unit %d: stamp %d (%v), want %d", idx, ms, err, all[idx].stamp)
		}
		seen++
	}
	for i, u := range all {
		p, ok, err := dec.Decode(u.data)
		if err != nil {
			t.Fatalf("decode %d: %v", i, err)
		}
		if ok {
			check(p)
		}
	}
	if err := dec.Drain(5*time.Second, check); err != nil {
		t.Fatalf("drain: %v", err)
	}
	st := dec.Stats()
	t.Logf("decoder %s: %+v", info.Path, st)
	if seen != len(all) {
		t.Errorf("%d pictures for %d units after drain", seen, len(all))
	}
	if st.SourceChanges < 2 {
		t.Errorf("%d source changes, want the initial one and 640x480 -> 1280x720", st.SourceChanges)
	}
	// After the drain's START the decoder takes units again.
	if _, _, err := dec.Decode(small[0].data); err != nil {
		t.Fatalf("decode after drain: %v", err)
	}
}
