//go:build cgo

package swenc

import (
	"errors"
	"testing"
	"time"

	"tether/media/testsrc"
)

// encodeTone returns n 20 ms Opus packets of a 1 kHz tone that sounds
// throughout (the first 250 ms of each second are kept by starting every
// frame inside the beep).
func encodeTone(t testing.TB, n int) [][]byte {
	t.Helper()
	o, err := NewOpus(OpusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	pcm := make([]int16, 960)
	out := make([]byte, OpusMaxPacket)
	var pkts [][]byte
	tone := testsrc.NewTone(1000, time.UnixMilli(0))
	for i := 0; i < n; i++ {
		if i%10 == 0 { // stay inside the beep: restart the clock
			tone = testsrc.NewTone(1000, time.UnixMilli(0))
		}
		tone.Read(pcm)
		k, err := o.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), out[:k]...))
	}
	return pkts
}

func TestOpusDecoder(t *testing.T) {
	pkts := encodeTone(t, 40)
	d, err := NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out := make([]int16, 960)
	for i, p := range pkts[:20] {
		n, err := d.Decode(p, out, false)
		if err != nil || n != 960 {
			t.Fatalf("packet %d: %d samples, %v", i, n, err)
		}
	}
	if db := testsrc.ToneDB(out, 1000); db < -3 {
		t.Fatalf("decoded tone at %.1f dB", db)
	}
	// Packet 20 is lost: its FEC copy rides in packet 21 (RFC 6716
	// §2.1.7), then PLC stands in for two more lost ones.
	if n, err := d.Decode(pkts[21], out, true); err != nil || n != 960 {
		t.Fatalf("FEC: %d, %v", n, err)
	}
	if db := testsrc.ToneDB(out, 1000); db < -6 {
		t.Fatalf("FEC-recovered frame: tone at %.1f dB", db)
	}
	for i := 0; i < 2; i++ {
		if n, err := d.Decode(nil, out, false); err != nil || n != 960 {
			t.Fatalf("PLC: %d, %v", n, err)
		}
	}
	if testsrc.LevelDB(out) < -40 {
		t.Fatalf("PLC fell silent at once: %.1f dBFS", testsrc.LevelDB(out))
	}
	t.Run("hostile packets", func(t *testing.T) {
		for _, p := range [][]byte{{0xff}, {0xff, 0xff, 0xff}, make([]byte, 1500)} {
			if _, err := d.Decode(p, out, false); err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("%x: %v", p[:1], err)
			}
		}
		if _, err := d.Decode(pkts[0], out[:100], false); !errors.Is(err, ErrFrameSize) {
			t.Fatalf("odd buffer: %v", err)
		}
	})
	if a := testing.AllocsPerRun(20, func() { d.Decode(pkts[3], out, false) }); a != 0 {
		t.Fatalf("Decode allocates %v per frame", a)
	}
	d.Reset()
	d.Close()
	if _, err := d.Decode(pkts[0], out, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// FuzzOpusDecode: any bytes from the network decode or fail cleanly.
func FuzzOpusDecode(f *testing.F) {
	for _, p := range encodeTone(f, 3) {
		f.Add(p, false)
	}
	f.Add([]byte{0xfc, 0xff, 0xff}, true)
	d, err := NewOpusDecoder()
	if err != nil {
		f.Fatal(err)
	}
	out := make([]int16, OpusMaxFrame)
	f.Fuzz(func(t *testing.T, p []byte, fec bool) {
		if _, err := d.Decode(p, out[:960], fec); err != nil && !errors.Is(err, ErrDecode) {
			t.Fatal(err)
		}
		if _, err := d.Decode(p, out, false); err != nil && !errors.Is(err, ErrDecode) {
			t.Fatal(err)
		}
	})
}

func BenchmarkOpusDecode20ms(b *testing.B) {
	pkts := encodeTone(b, 50)
	d, err := NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	out := make([]int16, 960)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := d.Decode(pkts[i%len(pkts)], out, false); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
