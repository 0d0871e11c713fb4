package media

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"tether/media/testsrc"
	"tether/media/v4l2"
	"tether/media/v4l2/v4l2fake"
)

type discard struct{}

func (discard) WriteSample(pmedia.Sample) error { return nil }

// benchPipeline is a pipeline driven synchronously, frame by frame, as the
// video goroutine drives it: handleFrame -> encoder -> sink -> writer.
func benchPipeline(b *testing.B, f EncoderFactory) (*Pipeline, *videoState) {
	b.Helper()
	p, err := New(Config{Width: 1280, Height: 720, Encoders: []EncoderFactory{f},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return p, &videoState{}
}

func benchFrames(b *testing.B, p *Pipeline, vs *videoState, pix uint32, keyEvery int) {
	pat, _ := testsrc.NewPattern(1280, 720)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer p.stopEncoder(vs)
	at := time.Unix(1_700_000_000, 0)
	var c converter
	frame := func(i int) RawFrame {
		data := pat.Render(uint64(i), at)
		switch pix {
		case v4l2.PixFmtNV12:
			if c.buf == nil {
				c.buf = make([]byte, len(data))
			}
			i420ToNV12(c.buf, data, 1280, 720)
			data = c.buf
		}
		return RawFrame{Data: data, Format: pix, Width: 1280, Height: 720, Time: at.Add(time.Duration(i) * time.Second / 30)}
	}
	src := &fakeCamera{}
	for i := 0; i < 5; i++ { // warm up: encoder start, buffers grown
		if err := p.handleFrame(ctx, vs, src, frame(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if keyEvery > 0 && i%keyEvery == 0 {
			p.RequestKeyframe()
		}
		if err := p.handleFrame(ctx, vs, src, frame(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// i420ToNV12 interleaves the chroma planes (bench input only).
func i420ToNV12(dst, src []byte, w, h int) {
	ys := w * h
	copy(dst, src[:ys])
	for k := 0; k < ys/4; k++ {
		dst[ys+2*k], dst[ys+2*k+1] = src[ys+k], src[ys+ys/4+k]
	}
}

// BenchmarkCaptureToTrack measures the pipeline's own path per 720p frame
// (pattern render, conversion, encoder hand-off, keyframe bookkeeping,
// parameter-set cache, sample write) with a zero-allocation fake encoder.
// "unbound" writes to the real pion track with no peer attached; "discard"
// replaces the track; "nv12" adds the NV12 -> I420 conversion; "pion-bound"
// writes to a track bound to a live loopback peer (pion's RTP packetizer
// and SRTP included).
func BenchmarkCaptureToTrack(b *testing.B) {
	var ff fakeFactory
	b.Run("discard", func(b *testing.B) {
		p, vs := benchPipeline(b, ff.factory(EncoderSoftware))
		p.videoW = discard{}
		benchFrames(b, p, vs, v4l2.PixFmtYUV420, 30)
	})
	b.Run("nv12", func(b *testing.B) {
		p, vs := benchPipeline(b, ff.factory(EncoderSoftware))
		p.videoW = discard{}
		benchFrames(b, p, vs, v4l2.PixFmtNV12, 30)
	})
	b.Run("unbound", func(b *testing.B) {
		p, vs := benchPipeline(b, ff.factory(EncoderSoftware))
		benchFrames(b, p, vs, v4l2.PixFmtYUV420, 30)
	})
	b.Run("hardware-fake", func(b *testing.B) {
		// v4l2m2m over v4l2fake.Fake: the frame copy into the OUTPUT buffer,
		// the driver round trip and the Sink on the encoder's goroutine.
		fake := v4l2fake.NewFake()
		p, vs := benchPipeline(b, hardwareEncoder("/dev/fake", func() (v4l2.Device, error) { return fake, nil }))
		p.videoW = discard{}
		benchFrames(b, p, vs, v4l2.PixFmtYUV420, 30)
	})
	b.Run("pion-bound", func(b *testing.B) {
		p, vs := benchPipeline(b, ff.factory(EncoderSoftware))
		lp := newLoopbackPair(b, p)
		defer lp.close()
		lp.waitConnected(b)
		benchFrames(b, p, vs, v4l2.PixFmtYUV420, 30)
	})
}

// BenchmarkRenderBaseline is the test pattern alone, for the ratio.
func BenchmarkRenderBaseline(b *testing.B) {
	pat, _ := testsrc.NewPattern(1280, 720)
	at := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pat.Render(uint64(i), at)
	}
}
