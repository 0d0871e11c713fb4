package media

import (
	"context"
	"time"

	"tether/media/testsrc"
	"tether/media/v4l2"
)

// RawFrame is one captured picture.
type RawFrame struct {
	// Data is the packed picture (no row padding) in Format; it is valid
	// until the next ReadFrame.
	Data []byte
	// Format is a V4L2 fourcc: v4l2.PixFmtYUV420 (I420), PixFmtNV12,
	// PixFmtYUYV, PixFmtMJPEG, or PixFmtH264 (an Annex B access unit).
	Format        uint32
	Width, Height int
	// Time is the capture time.
	Time time.Time
}

// VideoSource is a camera or the test pattern. ReadFrame blocks until the
// next frame; an error other than the context's means the source is lost
// and the pipeline closes and reopens it. Used from one goroutine.
type VideoSource interface {
	ReadFrame(ctx context.Context) (RawFrame, error)
	Close() error
}

// KeyframeForcer is implemented by a VideoSource that emits H.264 itself
// (a UVC H.264 camera) and can be asked for an IDR.
type KeyframeForcer interface {
	ForceKeyframe()
}

// AudioSource is a microphone or the test tone: 48 kHz mono signed 16-bit
// PCM. ReadPCM fills buf (20 ms, 960 samples) and returns the capture time
// of its first sample; errors are handled as for VideoSource.
type AudioSource interface {
	ReadPCM(ctx context.Context, buf []int16) (time.Time, error)
	Close() error
}

// testVideo adapts testsrc.Video to VideoSource.
type testVideo struct {
	v    *testsrc.Video
	w, h int
}

func (t *testVideo) ReadFrame(ctx context.Context) (RawFrame, error) {
	data, at, err := t.v.ReadFrame(ctx)
	if err != nil {
		return RawFrame{}, err
	}
	return RawFrame{Data: data, Format: v4l2.PixFmtYUV420, Width: t.w, Height: t.h, Time: at}, nil
}

func (t *testVideo) Close() error { return t.v.Close() }

// TestVideoOpener returns an opener for the moving test pattern.
func (c *Config) testVideoOpener() func() (VideoSource, error) {
	return func() (VideoSource, error) {
		v, err := testsrc.NewVideo(testsrc.VideoConfig{Width: c.Width, Height: c.Height, FPS: c.FPS, Clock: c.Clock})
		if err != nil {
			return nil, err
		}
		return &testVideo{v: v, w: c.Width, h: c.Height}, nil
	}
}

func (c *Config) testAudioOpener() func() (AudioSource, error) {
	return func() (AudioSource, error) {
		return testsrc.NewAudio(testsrc.AudioConfig{Clock: c.Clock})
	}
}
