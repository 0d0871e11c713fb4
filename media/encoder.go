package media

import (
	"context"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/swenc"
	"tether/media/v4l2"
	"tether/media/v4l2m2m"
)

// Encoder is what the pipeline needs from a video encoder: the hardware
// one (v4l2m2m.Encoder), the software one (swenc.H264), or a fake.
//
// Run owns the encoder until ctx ends or it fails; Encode hands over one
// frame (copied or encoded before it returns); ForceKeyframe and SetBitrate
// are safe from any goroutine and take effect at the next frame.
type Encoder interface {
	Run(ctx context.Context) error
	Encode(ctx context.Context, f EncoderFrame) error
	ForceKeyframe()
	SetBitrate(bps int)
}

// EncoderFrame is one raw picture in EncoderConfig.PixelFormat.
type EncoderFrame struct {
	Data      []byte
	Timestamp time.Duration
}

// AccessUnit is one coded H.264 picture (Annex B); Data is valid only
// during the Sink call.
type AccessUnit struct {
	Data      []byte
	Timestamp time.Duration
	Keyframe  bool
}

// EncoderConfig is what the pipeline asks of a new encoder.
type EncoderConfig struct {
	Width, Height int
	// PixelFormat of the frames: v4l2.PixFmtYUV420 always, NV12 or YUYV
	// when the factory said it takes them.
	PixelFormat      uint32
	FrameRate        int
	Bitrate          int
	KeyframeInterval int // frames
	// Sink receives every access unit, on a goroutine of the encoder.
	Sink   func(AccessUnit)
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// EncoderFactory makes encoders of one kind. Formats lists the raw formats
// it takes besides I420 (frames in other formats are converted to I420).
type EncoderFactory struct {
	Kind    EncoderKind
	Device  string // the node, for Status
	Formats []uint32
	New     func(EncoderConfig) (Encoder, error)
}

func (f *EncoderFactory) takes(pix uint32) bool {
	if pix == v4l2.PixFmtYUV420 {
		return true
	}
	for _, p := range f.Formats {
		if p == pix {
			return true
		}
	}
	return false
}

// HardwareEncoder is the factory for the V4L2 mem2mem encoder at path.
func HardwareEncoder(path string) EncoderFactory {
	return hardwareEncoder(path, v4l2m2m.OpenPath(path))
}

func hardwareEncoder(path string, open func() (v4l2.Device, error)) EncoderFactory {
	return EncoderFactory{
		Kind:    EncoderHardware,
		Device:  path,
		Formats: []uint32{v4l2.PixFmtNV12, v4l2.PixFmtYUYV},
		New: func(c EncoderConfig) (Encoder, error) {
			sink := c.Sink
			e, err := v4l2m2m.New(v4l2m2m.Config{
				Open: open, Width: c.Width, Height: c.Height,
				PixelFormat: c.PixelFormat, FrameRate: c.FrameRate, Bitrate: c.Bitrate,
				KeyframeInterval: c.KeyframeInterval,
				Sink: func(au v4l2m2m.AccessUnit) {
					sink(AccessUnit{Data: au.Data, Timestamp: au.Timestamp, Keyframe: au.Keyframe})
				},
				Clock: c.Clock, Logger: c.Logger,
			})
			if err != nil {
				return nil, err
			}
			return hwEncoder{e}, nil
		},
	}
}

type hwEncoder struct{ *v4l2m2m.Encoder }

func (h hwEncoder) Encode(ctx context.Context, f EncoderFrame) error {
	return h.Encoder.Encode(ctx, v4l2m2m.Frame{Data: f.Data, Timestamp: f.Timestamp})
}

// SoftwareEncoder is the factory for openh264 (swenc). With cgo off its New
// returns swenc.ErrNoSoftwareEncoder.
func SoftwareEncoder() EncoderFactory {
	return EncoderFactory{
		Kind: EncoderSoftware,
		New: func(c EncoderConfig) (Encoder, error) {
			sink := c.Sink
			e, err := swenc.NewH264(swenc.Config{
				Width: c.Width, Height: c.Height, FrameRate: c.FrameRate, Bitrate: c.Bitrate,
				KeyframeInterval: c.KeyframeInterval, Logger: c.Logger,
				Sink: func(au swenc.AccessUnit) {
					sink(AccessUnit{Data: au.Data, Timestamp: au.Timestamp, Keyframe: au.Keyframe})
				},
			})
			if err != nil {
				return nil, err
			}
			return swEncoder{e}, nil
		},
	}
}

type swEncoder struct{ *swenc.H264 }

func (s swEncoder) Encode(ctx context.Context, f EncoderFrame) error {
	return s.H264.Encode(ctx, swenc.Frame{Data: f.Data, Timestamp: f.Timestamp})
}

// findHardware probes /dev/video* for a mem2mem H.264 encoder.
func findHardware() (string, error) {
	info, err := v4l2m2m.Find(v4l2.PixFmtH264, "")
	if err != nil {
		return "", err
	}
	return info.Path, nil
}
