//go:build cgo

package swdec

import (
	"context"
	"errors"
	"testing"
	"time"

	"tether/media/swenc"
	"tether/media/testsrc"
)

// encodeUnits encodes n frames of the test pattern, stamped at base plus
// i*33 ms, with our own encoder (media/swenc).
func encodeUnits(t testing.TB, w, h, n int, base time.Time) [][]byte {
	t.Helper()
	var units [][]byte
	e, err := swenc.NewH264(swenc.Config{Width: w, Height: h, Bitrate: 1_500_000, KeyframeInterval: 1000,
		Sink: func(au swenc.AccessUnit) { units = append(units, append([]byte(nil), au.Data...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, err := testsrc.NewPattern(w, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i) * 33 * time.Millisecond)
		if err := e.Encode(context.Background(), swenc.Frame{Data: p.Render(uint64(i), at)}); err != nil {
			t.Fatal(err)
		}
	}
	return units
}

func TestRoundTripStamp(t *testing.T) {
	const w, h = 640, 480
	base := time.UnixMilli(1_700_000_000_000)
	units := encodeUnits(t, w, h, 20, base)
	d, err := NewH264(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := 0
	for i, au := range units {
		p, ok, err := d.Decode(au)
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if !ok {
			continue
		}
		if p.Width != w || p.Height != h {
			t.Fatalf("picture %dx%d", p.Width, p.Height)
		}
		ms, err := testsrc.Decode(p.Y, p.YStride, p.Width)
		if err != nil {
			t.Fatalf("unit %d: stamp: %v", i, err)
		}
		if want := uint64(base.Add(time.Duration(i) * 33 * time.Millisecond).UnixMilli()); ms != want {
			t.Fatalf("unit %d: stamp %d, want %d", i, ms, want)
		}
		got++
	}
	if got != len(units) {
		t.Fatalf("%d pictures for %d units", got, len(units))
	}
}

func TestJoinMidStreamNeedsKeyframe(t *testing.T) {
	units := encodeUnits(t, 320, 240, 5, time.Now())
	d, err := NewH264(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A P picture without the IDR before it: the decoder must say so, so
	// the display can send a PLI.
	_, ok, err := d.Decode(units[2])
	if !errors.Is(err, ErrNeedKeyframe) || ok {
		t.Fatalf("P picture first: ok %v err %v, want ErrNeedKeyframe", ok, err)
	}
	if _, ok, err := d.Decode(units[0]); err != nil || !ok {
		t.Fatalf("IDR after: ok %v err %v", ok, err)
	}
}

func TestLimits(t *testing.T) {
	d, err := NewH264(Config{MaxWidth: 320, MaxHeight: 240})
	if err != nil {
		t.Fatal(err)
	}
	units := encodeUnits(t, 640, 480, 1, time.Now())
	if _, _, err := d.Decode(units[0]); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("640x480 with a 320x240 limit: %v", err)
	}
	if _, _, err := d.Decode(make([]byte, MaxAccessUnit+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized unit: %v", err)
	}
	// Garbage must not crash the decoder.
	junk := []byte{0, 0, 0, 1, 0x65, 0xff, 0x00, 0x12, 0x34, 0, 0, 1, 0x41, 0x9a}
	_, _, _ = d.Decode(junk)
	d.Close()
	if _, _, err := d.Decode(units[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// BenchmarkDecode640x480 is the CPU per decoded frame at 640x480 (issue 15's
// figure), a steady stream with one IDR then P pictures.
func BenchmarkDecode640x480(b *testing.B) {
	units := encodeUnits(b, 640, 480, 60, time.Now())
	d, err := NewH264(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := d.Decode(units[i%len(units)]); err != nil {
			b.Fatal(err)
		}
	}
}
