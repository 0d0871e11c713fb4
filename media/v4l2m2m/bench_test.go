package v4l2m2m

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"tether/media/v4l2"
	"tether/media/v4l2/v4l2fake"
)

// BenchmarkEncodeFrame measures the encode loop per frame over the fake
// device: Encode hand-off, copy into the OUTPUT buffer, QBUF, poll, DQBUF of
// both queues, Sink and re-queue. The fake's "encoding" is a few hundred
// bytes of synthetic output, so the figure is the loop's own overhead plus
// the frame copy; compare with BenchmarkCopyFrameBaseline (the copy alone).
func BenchmarkEncodeFrame(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"640x480", 640, 480}, {"1280x720", 1280, 720}} {
		b.Run(sz.name, func(b *testing.B) {
			fake := v4l2fake.NewFake()
			units := make(chan struct{}, 1)
			enc, err := New(Config{
				Open:   func() (v4l2.Device, error) { return fake, nil },
				Width:  sz.w,
				Height: sz.h,
				Sink: func(AccessUnit) {
					units <- struct{}{}
				},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- enc.Run(ctx) }()
			frame := Frame{Data: make([]byte, sz.w*sz.h*3/2)}
			bg := context.Background()
			// Warm up: first frame sets up nothing new, but let the
			// runtime settle its channels and timers.
			for i := 0; i < 10; i++ {
				if err := enc.Encode(bg, frame); err != nil {
					b.Fatal(err)
				}
				<-units
			}
			b.SetBytes(int64(len(frame.Data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				frame.Timestamp = time.Duration(i) * time.Millisecond
				if err := enc.Encode(bg, frame); err != nil {
					b.Fatal(err)
				}
				<-units
			}
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkCopyFrameBaseline is the frame copy alone (driver stride equal to
// the width), the floor for BenchmarkEncodeFrame.
func BenchmarkCopyFrameBaseline(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"640x480", 640, 480}, {"1280x720", 1280, 720}} {
		b.Run(sz.name, func(b *testing.B) {
			n := sz.w * sz.h * 3 / 2
			l, err := newLayout(v4l2.PixFmtNV12, sz.w, sz.h, sz.w, n)
			if err != nil {
				b.Fatal(err)
			}
			src, dst := make([]byte, n), make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := l.copyFrame(dst, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
