package media

import (
	"testing"
	"time"

	"tether/media/h264"
	"tether/media/v4l2"
	"tether/media/v4l2/v4l2fake"
)

// TestHardwarePath runs camera frames through the real v4l2m2m encoder
// over v4l2fake.Fake (bcm2835-codec-like, multi-planar, padded strides): the
// adapter, the Sink hand-off on the encoder's own goroutine, keyframe
// requests and bitrate changes reaching the driver's controls.
func TestHardwarePath(t *testing.T) {
	fake := v4l2fake.NewFake()
	cam := newCam()
	h := newHarness(t, func(h *harness, c *Config) {
		c.Encoders = []EncoderFactory{hardwareEncoder("/dev/fake11", func() (v4l2.Device, error) { return fake, nil })}
	})
	h.opens <- cam
	h.run()
	for i := 0; i < 5; i++ {
		cam.frames <- i420(t, i, h.start.Add(time.Duration(i)*33*time.Millisecond))
		s := h.video.next(t)
		if in := h264.Scan(s.Data); in.Slices == 0 || (i == 0) != in.IDR {
			t.Fatalf("unit %d: %+v", i, in)
		}
	}
	st := h.p.Status()
	if st.Encoder != EncoderHardware || st.EncoderDevice != "/dev/fake11" {
		t.Fatalf("status %+v", st)
	}
	if f := fake.Format(v4l2.BufTypeVideoOutputMPlane); f.PixMP().PixelFormat != v4l2.PixFmtYUV420 {
		t.Fatalf("OUTPUT format %s", v4l2.FourccString(f.PixMP().PixelFormat))
	}
	h.p.RequestKeyframe()
	h.p.SetBitrate(500_000)
	cam.frames <- i420(t, 5, h.start.Add(165*time.Millisecond))
	if s := h.video.next(t); !h264.Scan(s.Data).IDR {
		t.Fatal("no IDR after RequestKeyframe on the hardware path")
	}
	if v, ok := fake.Control(v4l2.CIDMPEGVideoBitrate); !ok || v != 500_000 {
		t.Fatalf("driver bitrate %d (%v), want 500000", v, ok)
	}
	h.stop()
	if !fake.Closed() {
		t.Fatal("encoder device not closed when Run ended")
	}
}
