package speaker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/alsa"
	"tether/media/alsa/alsatest"
)

func openFake(t *testing.T, f *alsatest.PCM, clk clockwork.Clock) *Speaker {
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
			f := &alsatest.PCM{Channels: tc.ch}
			s, err := Open(Config{Path: "fake", openDevice: func() (device, error) { return f, nil }})
			if tc.error != nil {
				if !errors.Is(err, tc.error) || !f.Closed {
					t.Fatalf("err = %v (closed %v), want %v", err, f.Closed, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := f.Params
			if s.Channels() != tc.want || f.Prepared != 1 || p.Interval(alsa.ParamRate).Min != 48000 ||
				p.Interval(alsa.ParamPeriodSize).Min != 480 || p.Interval(alsa.ParamPeriods).Min != 3 ||
				p.Masks[alsa.ParamFormat].Bits[0] != 1<<alsa.FormatS16LE {
				t.Fatalf("channels %d, prepared %d, params rate %v period %v periods %v", s.Channels(), f.Prepared,
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
		f := &alsatest.PCM{Channels: 1, Steps: []error{nil, syscall.EAGAIN, nil, nil, nil}, Played: []int16{}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); err != nil {
			t.Fatal(err)
		}
		if len(f.Played) != 960 {
			t.Fatalf("played %d samples", len(f.Played))
		}
		for i, v := range f.Played {
			if v != int16(i+1) {
				t.Fatalf("sample %d = %d", i, v)
			}
		}
	})
	t.Run("stereo carries the signal on both channels", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 2, Played: []int16{}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); err != nil {
			t.Fatal(err)
		}
		if len(f.Played) != 1920 {
			t.Fatalf("played %d samples", len(f.Played))
		}
		for i := 0; i < 960; i++ {
			if f.Played[2*i] != int16(i+1) || f.Played[2*i+1] != int16(i+1) {
				t.Fatalf("frame %d = %d,%d", i, f.Played[2*i], f.Played[2*i+1])
			}
		}
	})
	t.Run("underrun recovered", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 1, Steps: []error{nil, syscall.EPIPE, nil}, Played: []int16{}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); err != nil {
			t.Fatal(err)
		}
		if s.Underruns() != 1 || f.Prepared != 2 || len(f.Played) != 960 {
			t.Fatalf("underruns %d, prepared %d, played %d", s.Underruns(), f.Prepared, len(f.Played))
		}
	})
	t.Run("unplugged", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 1, Steps: []error{nil, syscall.ENODEV}}
		s := openFake(t, f, nil)
		if err := s.Write(ctx, ramp(960)); !errors.Is(err, ErrGone) {
			t.Fatalf("err = %v, want ErrGone", err)
		}
	})
	t.Run("stall", func(t *testing.T) {
		mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
		steps := make([]error, 100)
		for i := range steps {
			steps[i] = syscall.EAGAIN
		}
		f := &alsatest.PCM{Channels: 1, Steps: steps, Clock: mock}
		s := openFake(t, f, mock)
		if err := s.Write(ctx, ramp(960)); !errors.Is(err, ErrStalled) {
			t.Fatalf("err = %v, want ErrStalled", err)
		}
	})
	t.Run("delay", func(t *testing.T) {
		s := openFake(t, &alsatest.PCM{Channels: 1, Frames: 960}, nil)
		if d, err := s.Delay(); err != nil || d != 20*time.Millisecond {
			t.Fatalf("delay %v %v", d, err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s := openFake(t, &alsatest.PCM{Channels: 1}, nil)
		s.Close()
		if err := s.Write(ctx, ramp(960)); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no allocations", func(t *testing.T) {
		s := openFake(t, &alsatest.PCM{Channels: 2}, nil)
		pcm := ramp(960)
		if a := testing.AllocsPerRun(20, func() { s.Write(ctx, pcm) }); a != 0 {
			t.Fatalf("Write allocates %v", a)
		}
	})
}
