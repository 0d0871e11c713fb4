//go:build cgo

package swenc

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tether/media/h264"
	"tether/media/testsrc"
)

type capture struct{ units []AccessUnit }

func (c *capture) sink(au AccessUnit) {
	au.Data = append([]byte(nil), au.Data...)
	c.units = append(c.units, au)
}

func newTestH264(t testing.TB, w, h int, c *capture) *H264 {
	t.Helper()
	e, err := NewH264(Config{Width: w, Height: h, FrameRate: 30, Bitrate: 1_000_000, KeyframeInterval: 1000, Sink: c.sink})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestH264KeyframesAndBitrate(t *testing.T) {
	var c capture
	e := newTestH264(t, 320, 240, &c)
	p, _ := testsrc.NewPattern(320, 240)
	ctx := context.Background()
	at := time.Unix(1_700_000_000, 0)
	enc := func(n int) {
		for i := 0; i < n; i++ {
			f := Frame{Data: p.Render(uint64(len(c.units)), at), Timestamp: time.Duration(len(c.units)) * time.Second / 30}
			if err := e.Encode(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	enc(10)
	if len(c.units) != 10 {
		t.Fatalf("%d units for 10 frames", len(c.units))
	}
	first := h264.Scan(c.units[0].Data)
	if !first.IDR || !first.SPS || !first.PPS || !c.units[0].Keyframe {
		t.Fatalf("first unit %+v, want IDR with SPS and PPS", first)
	}
	for i, u := range c.units[1:] {
		if u.Keyframe {
			t.Fatalf("unit %d is a keyframe without a request", i+1)
		}
	}
	t.Run("ForceKeyframe makes the next frame an IDR with parameter sets", func(t *testing.T) {
		e.ForceKeyframe()
		enc(1)
		last := c.units[len(c.units)-1]
		in := h264.Scan(last.Data)
		if !last.Keyframe || !in.SPS || !in.PPS {
			t.Fatalf("unit after ForceKeyframe: %+v", in)
		}
		enc(1)
		if c.units[len(c.units)-1].Keyframe {
			t.Fatal("the frame after the forced one is a keyframe too")
		}
		if s := e.Stats(); s.Forced != 1 || s.Keyframes != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("SetBitrate lowers the output size", func(t *testing.T) {
		// Noise on the pattern (as a dim sensor gives) makes the picture
		// expensive, so the rate controller decides the size.
		rng := rand.New(rand.NewPCG(3, 4))
		noise := make([]byte, 320*240*3/2)
		size := func() int {
			start := len(c.units)
			for i := 0; i < 30; i++ {
				copy(noise, p.Render(uint64(i), at))
				for j := range noise[:320*240] {
					noise[j] += byte(rng.IntN(24))
				}
				if err := e.Encode(ctx, Frame{Data: noise}); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			for _, u := range c.units[start:] {
				n += len(u.Data)
			}
			return n
		}
		hi := size()
		e.SetBitrate(100_000)
		size() // let rate control settle
		lo := size()
		if lo*2 > hi {
			t.Fatalf("30 frames: %d bytes at 1 Mbit/s, %d at 100 kbit/s", hi, lo)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if err := e.Encode(ctx, Frame{Data: make([]byte, 10)}); !errors.Is(err, ErrFrameSize) {
			t.Fatalf("short frame: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := e.Run(cctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Encode(ctx, Frame{Data: p.Render(0, at)}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Encode after Run ended: %v", err)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	sink := func(AccessUnit) {}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no sink", Config{Width: 320, Height: 240}},
		{"odd size", Config{Width: 321, Height: 240, Sink: sink}},
		{"tiny bitrate", Config{Width: 320, Height: 240, Bitrate: 5, Sink: sink}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewH264(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := NewOpus(OpusConfig{Bitrate: 1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("opus bitrate 1: %v", err)
	}
}

// TestStampSurvivesH264 encodes the test pattern, decodes it with ffmpeg
// and reads every frame's stamp back: the form a browser reads must
// survive real compression.
func TestStampSurvivesH264(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed (Debian ffmpeg); CI installs it")
	}
	const w, h, n = 640, 360, 45
	for _, bitrate := range []int{300_000, 1_500_000} {
		var c capture
		e, err := NewH264(Config{Width: w, Height: h, Bitrate: bitrate, KeyframeInterval: 30, Sink: c.sink})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := testsrc.NewPattern(w, h)
		start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
		var want []uint64
		for i := 0; i < n; i++ {
			at := start.Add(time.Duration(i) * 33 * time.Millisecond)
			want = append(want, uint64(at.UnixMilli()))
			if err := e.Encode(context.Background(), Frame{Data: p.Render(uint64(i), at)}); err != nil {
				t.Fatal(err)
			}
		}
		e.Close()
		var stream bytes.Buffer
		for _, u := range c.units {
			stream.Write(u.Data)
		}
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.h264"), filepath.Join(dir, "out.yuv")
		if err := os.WriteFile(in, stream.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ffmpeg, "-v", "error", "-f", "h264", "-i", in, "-f", "rawvideo", "-pix_fmt", "yuv420p", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		yuv, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(yuv) / (w * h * 3 / 2); got != n {
			t.Fatalf("ffmpeg decoded %d frames, want %d", got, n)
		}
		for i := 0; i < n; i++ {
			ms, err := testsrc.Decode(yuv[i*w*h*3/2:], w, w)
			if err != nil || ms != want[i] {
				t.Fatalf("%d bit/s, frame %d: stamp %d (%v), want %d", bitrate, i, ms, err, want[i])
			}
		}
		t.Logf("%d bit/s: %d stamps read back from %d bytes of H.264", bitrate, n, stream.Len())
	}
}

func TestOpus(t *testing.T) {
	o, err := NewOpus(OpusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if !o.impl.fec() {
		t.Fatal("in-band FEC is off by default")
	}
	tone := testsrc.NewTone(440, time.Unix(1_700_000_000, 0))
	pcm := make([]int16, 960)
	out := make([]byte, OpusMaxPacket)
	total := 0
	for i := 0; i < 50; i++ { // one second
		tone.Read(pcm)
		n, err := o.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("packet %d empty", i)
		}
		// TOC byte (RFC 6716 §3.1): config 0..31; mono (s=0).
		if out[0]&0x04 != 0 {
			t.Fatalf("packet %d is stereo: TOC %#x", i, out[0])
		}
		total += n
	}
	// 32 kbit/s for one second is 4000 bytes; VBR lands near it.
	if total < 1000 || total > 8000 {
		t.Fatalf("one second of tone is %d bytes at 32 kbit/s", total)
	}
	if _, err := o.Encode(pcm[:100], out); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("odd frame size: %v", err)
	}
	if err := o.SetBitrate(16000); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(20, func() { o.Encode(pcm, out) }); a != 0 {
		t.Fatalf("Opus Encode allocates %v per frame", a)
	}
	o.Close()
	if _, err := o.Encode(pcm, out); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// BenchmarkH264Encode720p is the CPU cost of one 720p frame on the software
// path (openh264, 1 thread, 2 Mbit/s); BenchmarkRender720pBaseline is the
// test pattern alone, for the ratio.
func BenchmarkH264Encode720p(b *testing.B) {
	e, err := NewH264(Config{Width: 1280, Height: 720, Bitrate: 2_000_000, Sink: func(AccessUnit) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	p, _ := testsrc.NewPattern(1280, 720)
	ctx := context.Background()
	at := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := e.Encode(ctx, Frame{Data: p.Render(uint64(i), at)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender720pBaseline(b *testing.B) {
	p, _ := testsrc.NewPattern(1280, 720)
	at := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Render(uint64(i), at)
	}
}

func BenchmarkOpusEncode20ms(b *testing.B) {
	o, err := NewOpus(OpusConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	tone := testsrc.NewTone(440, time.Now())
	pcm := make([]int16, 960)
	out := make([]byte, OpusMaxPacket)
	b.ReportAllocs()
	for b.Loop() {
		tone.Read(pcm)
		if _, err := o.Encode(pcm, out); err != nil {
			b.Fatal(err)
		}
	}
}
