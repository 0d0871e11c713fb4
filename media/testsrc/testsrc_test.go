package testsrc

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func TestStampRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 2, 3, 456e6, time.UTC)
	for _, tc := range []struct {
		name          string
		w, h          int
		noise         int // +- uniform noise added to luma
		blur          bool
		wantErr       error
		corruptCellAt int // >0: flip this data cell
	}{
		{name: "640x480 clean", w: 640, h: 480},
		{name: "1280x720 clean", w: 1280, h: 720},
		{name: "320x240 noisy", w: 320, h: 240, noise: 40},
		{name: "1920x1080 noisy blurred", w: 1920, h: 1080, noise: 30, blur: true},
		{name: "160x120 blurred", w: 160, h: 120, blur: true},
		{name: "flipped cell fails CRC", w: 640, h: 480, corruptCellAt: 7, wantErr: ErrNoStamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPattern(tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			frame := p.Render(17, at)
			y := append([]byte(nil), frame[:tc.w*tc.h]...)
			rng := rand.New(rand.NewPCG(1, 2))
			if tc.noise > 0 {
				for i := range y {
					v := int(y[i]) + rng.IntN(2*tc.noise+1) - tc.noise
					y[i] = byte(min(255, max(0, v)))
				}
			}
			if tc.blur {
				boxBlur(y, tc.w, tc.h)
			}
			if tc.corruptCellAt > 0 {
				c := CellSize(tc.w)
				for py := 0; py < c; py++ {
					for px := tc.corruptCellAt * c; px < (tc.corruptCellAt+1)*c; px++ {
						y[py*tc.w+px] = 255 - y[py*tc.w+px]
					}
				}
			}
			ms, err := Decode(y, tc.w, tc.w)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Decode err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := uint64(at.UnixMilli()); ms != want {
				t.Fatalf("Decode = %d, want %d", ms, want)
			}
		})
	}
}

// boxBlur is a 5x5 box filter: harsher than what a decoder's deblocking
// does to flat cells.
func boxBlur(y []byte, w, h int) {
	src := append([]byte(nil), y...)
	for r := 0; r < h; r++ {
		for c := 0; c < w; c++ {
			sum, n := 0, 0
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					rr, cc := r+dy, c+dx
					if rr >= 0 && rr < h && cc >= 0 && cc < w {
						sum += int(src[rr*w+cc])
						n++
					}
				}
			}
			y[r*w+c] = byte(sum / n)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		y    []byte
		w    int
		want error
	}{
		{"flat grey", bytes.Repeat([]byte{128}, 640*480), 640, ErrNoStamp},
		{"too narrow", make([]byte, 100), 60, ErrSize},
		{"short buffer", make([]byte, 640*10), 640, ErrSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.y, tc.w, tc.w); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPatternMovesAndIsI420(t *testing.T) {
	p, err := NewPattern(320, 240)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 320*240*3/2 {
		t.Fatalf("size %d", p.Size())
	}
	at := time.Unix(1_700_000_000, 0)
	a := append([]byte(nil), p.Render(0, at)...)
	b := p.Render(1, at)
	if bytes.Equal(a, b) {
		t.Fatal("frames 0 and 1 are identical: the pattern does not move")
	}
	// Below the stamp the bars scroll by 4 pixels a frame.
	row := StampHeight(320) + 2
	if !bytes.Equal(a[row*320+4:row*320+40], b[row*320:row*320+36]) {
		t.Fatal("bars did not scroll by 4 pixels")
	}
	for _, bad := range [][2]int{{63, 32}, {64, 30}, {65, 64}} {
		if _, err := NewPattern(bad[0], bad[1]); !errors.Is(err, ErrSize) {
			t.Errorf("NewPattern(%v) err = %v", bad, err)
		}
	}
}

func TestRenderAllocs(t *testing.T) {
	p, _ := NewPattern(1280, 720)
	at := time.Now()
	n := uint64(0)
	if a := testing.AllocsPerRun(20, func() { p.Render(n, at); n++ }); a != 0 {
		t.Fatalf("Render allocates %v per frame", a)
	}
	tone := NewTone(440, at)
	buf := make([]int16, 960)
	if a := testing.AllocsPerRun(20, func() { tone.Read(buf) }); a != 0 {
		t.Fatalf("Tone.Read allocates %v per chunk", a)
	}
}

func TestToneBeepsAt440(t *testing.T) {
	start := time.Unix(1_700_000_000, 0) // on a second boundary
	tone := NewTone(440, start)
	buf := make([]int16, SampleRate) // one second
	tone.Read(buf)
	on := buf[:SampleRate/4]
	crossings := 0
	for i := 1; i < len(on); i++ {
		if (on[i-1] < 0) != (on[i] < 0) {
			crossings++
		}
	}
	// 440 Hz over 0.25 s: 110 periods, 220 zero crossings.
	if crossings < 215 || crossings > 225 {
		t.Fatalf("%d zero crossings in the beep, want ~220", crossings)
	}
	for i, s := range buf[SampleRate/4+48:] {
		if s != 0 {
			t.Fatalf("sample %d after the beep is %d, want silence", i, s)
		}
	}
}

func TestPacedSources(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(1_700_000_000, 0))
	v, err := NewVideo(VideoConfig{Width: 320, Height: 240, FPS: 25, Clock: mock})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	// The first frame comes at once, the next after one interval.
	if _, at, err := v.ReadFrame(ctx); err != nil || !at.Equal(mock.Now()) {
		t.Fatalf("first frame %v %v", at, err)
	}
	got := make(chan time.Time, 1)
	go func() {
		data, at, err := v.ReadFrame(ctx)
		if err != nil {
			t.Error(err)
		}
		ms, err := Decode(data, 320, 320)
		if err != nil || ms != uint64(at.UnixMilli()) {
			t.Errorf("stamp %d, %v; want %d", ms, err, at.UnixMilli())
		}
		got <- at
	}()
	// Drive the mock clock until the goroutine gets its frame; the ticker is
	// registered already, so one interval suffices.
	mock.Advance(40 * time.Millisecond)
	at := <-got
	if want := time.Unix(1_700_000_000, 40e6); !at.Equal(want) {
		t.Fatalf("second frame at %v, want %v", at, want)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := v.ReadFrame(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ReadFrame err = %v", err)
	}

	a, err := NewAudio(AudioConfig{Clock: mock})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.ChunkSamples() != 960 {
		t.Fatalf("chunk %d samples", a.ChunkSamples())
	}
	buf := make([]int16, 960)
	t0, _ := a.ReadPCM(ctx, buf)
	done := make(chan time.Time)
	go func() { t1, _ := a.ReadPCM(ctx, buf); done <- t1 }()
	mock.Advance(20 * time.Millisecond)
	if t1 := <-done; t1.Sub(t0) != 20*time.Millisecond {
		t.Fatalf("chunks %v apart, want 20ms", t1.Sub(t0))
	}
}

func FuzzDecode(f *testing.F) {
	p, _ := NewPattern(128, 64)
	good := append([]byte(nil), p.Render(0, time.Unix(1_700_000_000, 0))[:128*64]...)
	f.Add(good, 128)
	f.Add(make([]byte, 128*64), 128)
	f.Add([]byte{1, 2, 3}, 64)
	f.Fuzz(func(t *testing.T, y []byte, w int) {
		if w < 0 || w > 1<<14 {
			return
		}
		ms, err := Decode(y, w, w)
		if err == nil && ms >= 1<<stampTimeBit {
			t.Fatalf("decoded %d: beyond 48 bits", ms)
		}
		if err == nil {
			// Whatever decodes must re-encode to the same cells.
			y2 := append([]byte(nil), y...)
			if werr := WriteStamp(y2, w, w, ms); werr != nil {
				t.Fatal(werr)
			}
			if ms2, err := Decode(y2, w, w); err != nil || ms2 != ms {
				t.Fatalf("re-decode %d %v, want %d", ms2, err, ms)
			}
		}
	})
}

func BenchmarkRender720p(b *testing.B) {
	p, _ := NewPattern(1280, 720)
	at := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(p.Size()))
	for i := 0; b.Loop(); i++ {
		p.Render(uint64(i), at)
	}
}

func BenchmarkDecode720p(b *testing.B) {
	p, _ := NewPattern(1280, 720)
	y := p.Render(0, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(y, 1280, 1280); err != nil {
			b.Fatal(err)
		}
	}
}

func TestToneDB(t *testing.T) {
	tone := NewTone(1000, time.UnixMilli(0))
	buf := make([]int16, 9600) // the first 200 ms: the beep sounds
	tone.Read(buf)
	if db := ToneDB(buf, 1000); db < -1 {
		t.Fatalf("tone at 1000 Hz: %.1f dB", db)
	}
	if db := ToneDB(buf, 1500); db > -20 {
		t.Fatalf("no tone at 1500 Hz, yet %.1f dB", db)
	}
	if ToneDB(make([]int16, 960), 1000) != -200 || LevelDB(make([]int16, 960)) != -200 {
		t.Fatal("silence")
	}
	if l := LevelDB(buf); l < -16 || l > -14 { // -12 dBFS peak is -15 dB RMS
		t.Fatalf("level %.1f dBFS", l)
	}
}
