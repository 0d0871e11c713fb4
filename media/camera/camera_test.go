package camera

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/v4l2"
)

func openFake(t *testing.T, f *fakeCap, mod func(*Config)) (*Camera, error) {
	t.Helper()
	cfg := Config{Path: "/dev/fake", OpenDevice: func() (v4l2.Device, error) { return f, nil },
		Width: 160, Height: 128, FPS: 30, PollSlice: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	return Open(cfg)
}

func TestFormatNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered []uint32
		want    uint32
		err     error
	}{
		{"H.264 preferred for passthrough", []uint32{v4l2.PixFmtMJPEG, v4l2.PixFmtYUYV, v4l2.PixFmtH264}, v4l2.PixFmtH264, nil},
		{"YUYV over MJPEG", []uint32{v4l2.PixFmtMJPEG, v4l2.PixFmtYUYV}, v4l2.PixFmtYUYV, nil},
		{"NV12", []uint32{v4l2.PixFmtNV12}, v4l2.PixFmtNV12, nil},
		{"MJPEG only", []uint32{v4l2.PixFmtMJPEG}, v4l2.PixFmtMJPEG, nil},
		{"nothing usable", []uint32{v4l2.Fourcc('B', 'A', '8', '1')}, 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCap(tc.offered...)
			c, err := openFake(t, f, nil)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if !f.closed || f.mapped != 0 {
					t.Fatalf("failed open left the device open (closed %v, %d mapped)", f.closed, f.mapped)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if pix, w, h := c.Format(); pix != tc.want || w != 160 || h != 128 {
				t.Fatalf("format %s %dx%d", v4l2.FourccString(pix), w, h)
			}
		})
	}
	t.Run("not a capture device", func(t *testing.T) {
		f := newFakeCap(v4l2.PixFmtYUYV)
		f.caps = v4l2.CapVideoM2MMPlane | v4l2.CapStreaming
		if _, err := openFake(t, f, nil); !errors.Is(err, ErrNotCapture) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing node", func(t *testing.T) {
		_, err := Open(Config{Path: "/dev/x", OpenDevice: func() (v4l2.Device, error) {
			return nil, fmt.Errorf("open: %w", syscall.ENOENT)
		}})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("size adjusted by the driver", func(t *testing.T) {
		f := newFakeCap(v4l2.PixFmtYUYV)
		c, err := openFake(t, f, func(c *Config) { c.Width, c.Height = 650, 490 })
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, w, h := c.Format(); w != 640 || h != 480 {
			t.Fatalf("size %dx%d, want the driver's 640x480", w, h)
		}
	})
}

func TestStreaming(t *testing.T) {
	for _, tc := range []struct {
		name string
		pix  uint32
		pad  int
		size int
	}{
		{"YUYV packed", v4l2.PixFmtYUYV, 0, 160 * 128 * 2},
		{"NV12 padded rows", v4l2.PixFmtNV12, 64, 160 * 128 * 3 / 2},
		{"YU12 padded rows", v4l2.PixFmtYUV420, 64, 160 * 128 * 3 / 2},
		{"H.264 units", v4l2.PixFmtH264, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCap(tc.pix)
			f.padBPL = tc.pad
			c, err := openFake(t, f, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			f.Produce(20)
			for i := 1; i <= 20; i++ {
				fr, err := c.ReadFrame(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if fr.Sequence != uint32(i) || fr.Format != tc.pix {
					t.Fatalf("frame %d: seq %d format %s", i, fr.Sequence, v4l2.FourccString(fr.Format))
				}
				want := tc.size
				if want < 0 {
					want = 1000 + i
				}
				if len(fr.Data) != want {
					t.Fatalf("frame %d: %d bytes, want %d", i, len(fr.Data), want)
				}
				for k, b := range fr.Data {
					if b != byte(i) {
						t.Fatalf("frame %d byte %d = %d: padding leaked or wrong buffer", i, k, b)
					}
				}
				// Every buffer but the one we hold is back with the driver.
				if q := f.queuedCount(); q != len(c.bufs)-1 {
					t.Fatalf("frame %d: %d queued, want %d", i, q, len(c.bufs)-1)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if f.mapped != 0 || !f.closed || f.streaming {
				t.Fatalf("after Close: %d mapped, closed %v, streaming %v", f.mapped, f.closed, f.streaming)
			}
			if _, err := c.ReadFrame(ctx); !errors.Is(err, ErrClosed) {
				t.Fatalf("ReadFrame after Close: %v", err)
			}
		})
	}
}

func TestLossAndStall(t *testing.T) {
	t.Run("unplugged while streaming", func(t *testing.T) {
		f := newFakeCap(v4l2.PixFmtYUYV)
		c, err := openFake(t, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.Produce(1)
		if _, err := c.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.Vanish()
		if _, err := c.ReadFrame(context.Background()); !errors.Is(err, ErrGone) {
			t.Fatalf("err = %v, want ErrGone", err)
		}
		c.Close()
		if f.mapped != 0 || !f.closed {
			t.Fatal("gone camera not torn down")
		}
	})
	t.Run("unplugged while waiting", func(t *testing.T) {
		f := newFakeCap(v4l2.PixFmtYUYV)
		c, _ := openFake(t, f, nil)
		defer c.Close()
		errc := make(chan error, 1)
		go func() { _, err := c.ReadFrame(context.Background()); errc <- err }()
		f.Vanish()
		if err := <-errc; !errors.Is(err, ErrGone) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no frames is a stall", func(t *testing.T) {
		mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
		f := newFakeCap(v4l2.PixFmtYUYV)
		c, _ := openFake(t, f, func(c *Config) { c.Clock = mock; c.FrameTimeout = time.Second })
		defer c.Close()
		mock.Advance(2 * time.Second)
		if _, err := c.ReadFrame(context.Background()); !errors.Is(err, ErrStalled) {
			t.Fatalf("err = %v, want ErrStalled", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		f := newFakeCap(v4l2.PixFmtYUYV)
		c, _ := openFake(t, f, nil)
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.ReadFrame(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestReadFrameAllocs(t *testing.T) {
	f := newFakeCap(v4l2.PixFmtNV12)
	f.padBPL = 32
	c, err := openFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	f.Produce(1000)
	c.ReadFrame(ctx) // grows the repack buffer
	if a := testing.AllocsPerRun(50, func() {
		if _, err := c.ReadFrame(ctx); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("ReadFrame allocates %v per frame", a)
	}
}
