package mic

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

func openFake(t *testing.T, f *alsatest.PCM, clk clockwork.Clock) *Mic {
	t.Helper()
	m, err := Open(Config{Path: "fake", openDevice: func() (device, error) { return f, nil }, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpenParams(t *testing.T) {
	for _, tc := range []struct {
		name         string
		maxCh        int
		wantChannels int
		err          error
	}{
		{"mono", 1, 1, nil},
		{"stereo only, downmixed", 2, 2, nil},
		{"no usable channel count", 0, 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &alsatest.PCM{Channels: tc.maxCh}
			m, err := Open(Config{Path: "fake", openDevice: func() (device, error) { return f, nil }})
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !f.Closed {
					t.Fatalf("err = %v (closed %v), want %v", err, f.Closed, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Channels() != tc.wantChannels || f.Prepared != 1 {
				t.Fatalf("channels %d, prepared %d", m.Channels(), f.Prepared)
			}
			p := f.Params
			if p.Interval(alsa.ParamRate).Min != 48000 || p.Interval(alsa.ParamPeriodSize).Min != 960 ||
				p.Masks[alsa.ParamFormat].Bits[0] != 1<<alsa.FormatS16LE || p.Masks[alsa.ParamAccess].Bits[0] != 1<<alsa.AccessRWInterleaved {
				t.Fatalf("hw params: rate %v period %v format %#x access %#x", p.Interval(alsa.ParamRate),
					p.Interval(alsa.ParamPeriodSize), p.Masks[alsa.ParamFormat].Bits[0], p.Masks[alsa.ParamAccess].Bits[0])
			}
		})
	}
	t.Run("missing node", func(t *testing.T) {
		_, err := Open(Config{Path: "/dev/snd/pcmC9D0c", openDevice: func() (device, error) {
			return nil, fmt.Errorf("open: %w", syscall.ENOENT)
		}})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestReadPCM(t *testing.T) {
	ctx := context.Background()
	t.Run("mono in pieces", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 1, Steps: []error{nil, syscall.EAGAIN, nil, nil, nil}}
		m := openFake(t, f, nil)
		buf := make([]int16, 960)
		if _, err := m.ReadPCM(ctx, buf); err != nil {
			t.Fatal(err)
		}
		for i, s := range buf {
			if s != int16(i+1)*2 {
				t.Fatalf("sample %d = %d, want %d", i, s, (i+1)*2)
			}
		}
	})
	t.Run("stereo downmixed", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 2}
		m := openFake(t, f, nil)
		buf := make([]int16, 960)
		if _, err := m.ReadPCM(ctx, buf); err != nil {
			t.Fatal(err)
		}
		for i, s := range buf {
			if s != int16(i+1)*2+1 {
				t.Fatalf("sample %d = %d, want the channel mean %d", i, s, (i+1)*2+1)
			}
		}
	})
	t.Run("overrun recovered", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 1, Steps: []error{nil, syscall.EPIPE, nil}}
		m := openFake(t, f, nil)
		if _, err := m.ReadPCM(ctx, make([]int16, 960)); err != nil {
			t.Fatal(err)
		}
		if m.Overruns() != 1 || f.Prepared != 2 {
			t.Fatalf("overruns %d, prepared %d", m.Overruns(), f.Prepared)
		}
	})
	t.Run("unplugged", func(t *testing.T) {
		f := &alsatest.PCM{Channels: 1, Steps: []error{nil, syscall.ENODEV}}
		m := openFake(t, f, nil)
		if _, err := m.ReadPCM(ctx, make([]int16, 960)); !errors.Is(err, ErrGone) {
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
		m := openFake(t, f, mock)
		if _, err := m.ReadPCM(ctx, make([]int16, 960)); !errors.Is(err, ErrStalled) {
			t.Fatalf("err = %v, want ErrStalled", err)
		}
	})
	t.Run("backlog", func(t *testing.T) {
		m := openFake(t, &alsatest.PCM{Channels: 1, Frames: 480}, nil)
		if b := m.Backlog(); b != 10*time.Millisecond {
			t.Fatalf("backlog %v", b)
		}
	})
	t.Run("closed", func(t *testing.T) {
		m := openFake(t, &alsatest.PCM{Channels: 1}, nil)
		m.Close()
		if _, err := m.ReadPCM(ctx, make([]int16, 960)); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no allocations", func(t *testing.T) {
		m := openFake(t, &alsatest.PCM{Channels: 2}, nil)
		buf := make([]int16, 960)
		if a := testing.AllocsPerRun(20, func() { m.ReadPCM(ctx, buf) }); a != 0 {
			t.Fatalf("ReadPCM allocates %v", a)
		}
	})
}

// BenchmarkReadPCM measures the capture loop (stereo downmix, delivered in
// pieces) against the fake device: the loop's own cost, no hardware.
func BenchmarkReadPCM(b *testing.B) {
	f := &alsatest.PCM{Channels: 2}
	m, err := Open(Config{Path: "fake", openDevice: func() (device, error) { return f, nil }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	buf := make([]int16, 960)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.ReadPCM(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}
