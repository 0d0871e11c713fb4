package speaker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"tether/media/alsa"
)

// fakePCM scripts a playback device: each WriteI takes its next step, and
// what it takes is kept.
type fakePCM struct {
	channels int // the one channel count the device takes (0: none)
	params   *alsa.HWParams
	prepared int
	steps    []error // per WriteI: nil takes up to 240 frames
	step     int
	played   []int16 // interleaved, as the device got them
	closed   bool
	delay    int
}

func (f *fakePCM) HWParams(p *alsa.HWParams) error {
	if ch := p.Interval(alsa.ParamChannels).Min; int(ch) != f.channels {
		return syscall.EINVAL
	}
	cp := *p
	f.params = &cp
	return nil
}

func (f *fakePCM) Prepare() error { f.prepared++; return nil }

func (f *fakePCM) WriteI(buf []int16, frames int) (int, error) {
	var err error
	if f.step < len(f.steps) {
		err = f.steps[f.step]
	}
	f.step++
	if err != nil {
		return 0, err
	}
	n := min(frames, 240) // the ring takes small pieces
	if f.played != nil || cap(f.played) > 0 {
		f.played = append(f.played, buf[:n*f.channels]...)
	}
	return n, nil
}

func (f *fakePCM) Delay() (int, error)              { return f.delay, nil }
func (f *fakePCM) Poll(time.Duration) (bool, error) { return true, nil }
func (f *fakePCM) Close() error                     { f.closed = true; return nil }

func openFake(t *testing.T, f *fakePCM, clk clock.Clock) *Speaker {
	t.Helper()
	s, err := Open(Config{Path: "fake", openDevice: func() (device, error) { return f, nil }, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ramp(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(i + 1)
	}
	return pcm
}

func TestOpenParams(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ch    int
		want  int
		error error
	}{
		{"mono", 1, 1, nil},
		{"stereo only", 2, 2, nil},
		{"no usable channel count", 0, 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePCM{channels: tc.ch}
			s, err := Open(Config{Path: "fake", openDevice: func() (device, error) { return f, nil }})
			if tc.error != nil {
				if !errors.Is(err, tc.error) || !f.closed {
					t.Fatalf("err = %v (closed %v), want %v", err, f.closed, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := f.params
			if s.Channels() != tc.want || f.prepared != 1 || p.Interval(alsa.ParamRate).Min != 48000 ||
				p.Interval(alsa.ParamPeriodSize).Min != 480 || p.Interval(alsa.ParamPeriods).Min != 3 ||
				p.Masks[alsa.ParamFormat].Bits[0] != 1<<alsa.FormatS16LE {
				t.Fatalf("channels %d, prepared %d, params rate %v period %v periods %v", s.Channels(), f.prepared,
					p.Interval(alsa.ParamRate), p.Interval(alsa.ParamPeriodSize), p.Interval(alsa.ParamPeriods))
			}
			if s.Buffer() != 30*time.Millisecond {
				t.Fatalf("buffer %v", s.Buffer())
			}
		})
	}
	t.Run("missing node", func(t *testing.T) {
		_, err := Open(Config{Path: "/dev/snd/pcmC9D0p", openDevice: func() (device, error) {
			return nil, fmt.Errorf("open: %w", syscall.ENOENT)
		}})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWrite(t *testing.T) {
	ctx := context.Background()
	t.Run("mono in pieces through a full ring", func(t *testing.T) {
		f := &fakePCM{channels: 1, steps: []error{nil, syscall.EAGAIN, nil, nil, nil}, played: []int16{}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); err != nil {
			t.Fatal(err)
		}
		if len(f.played) != 960 {
			t.Fatalf("played %d samples", len(f.played))
		}
		for i, v := range f.played {
			if v != int16(i+1) {
				t.Fatalf("sample %d = %d", i, v)
			}
		}
	})
	t.Run("stereo carries the signal on both channels", func(t *testing.T) {
		f := &fakePCM{channels: 2, played: []int16{}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); err != nil {
			t.Fatal(err)
		}
		if len(f.played) != 1920 {
			t.Fatalf("played %d samples", len(f.played))
		}
		for i := 0; i < 960; i++ {
			if f.played[2*i] != int16(i+1) || f.played[2*i+1] != int16(i+1) {
				t.Fatalf("frame %d = %d,%d", i, f.played[2*i], f.played[2*i+1])
			}
		}
	})
	t.Run("underrun recovered", func(t *testing.T) {
		f := &fakePCM{channels: 1, steps: []error{nil, syscall.EPIPE, nil}, played: []int16{}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); err != nil {
			t.Fatal(err)
		}
		if s.Underruns() != 1 || f.prepared != 2 || len(f.played) != 960 {
			t.Fatalf("underruns %d, prepared %d, played %d", s.Underruns(), f.prepared, len(f.played))
		}
	})
	t.Run("unplugged", func(t *testing.T) {
		f := &fakePCM{channels: 1, steps: []error{nil, syscall.ENODEV}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); !errors.Is(err, ErrGone) {
			t.Fatalf("err = %v, want ErrGone", err)
		}
	})
	t.Run("stall", func(t *testing.T) {
		mock := clock.NewMock()
		steps := make([]error, 100)
		for i := range steps {
			steps[i] = syscall.EAGAIN
		}
		f := &fakePCM{channels: 1, steps: steps}
		s := openFake(t, f, mock)
		s.dev = &advancingPCM{fakePCM: f, mock: mock}
		if err := s.Write(ctx, ramp(960)); !errors.Is(err, ErrStalled) {
			t.Fatalf("err = %v, want ErrStalled", err)
		}
	})
	t.Run("delay", func(t *testing.T) {
		s := openFake(t, &fakePCM{channels: 1, delay: 960}, nil)
		if d, err := s.Delay(); err != nil || d != 20*time.Millisecond {
			t.Fatalf("delay %v %v", d, err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s := openFake(t, &fakePCM{channels: 1}, nil)
		s.Close()
		if err := s.Write(ctx, ramp(960)); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no allocations", func(t *testing.T) {
		s := openFake(t, &fakePCM{channels: 2}, nil)
		pcm := ramp(960)
		if a := testing.AllocsPerRun(20, func() { s.Write(ctx, pcm) }); a != 0 {
			t.Fatalf("Write allocates %v", a)
		}
	})
}

// advancingPCM moves the mock clock on every poll, as time passes while
// the device takes nothing.
type advancingPCM struct {
	*fakePCM
	mock *clock.Mock
}

func (a *advancingPCM) Poll(time.Duration) (bool, error) {
	a.mock.Add(300 * time.Millisecond)
	return false, nil
}
