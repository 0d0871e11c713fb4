package v4l2m2m

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/v4l2"
)

// BitrateMode is the rate control (V4L2_CID_MPEG_VIDEO_BITRATE_MODE).
type BitrateMode int

// Rate control modes. CBR suits WebRTC: the congestion controller sets the
// target and the encoder should hold it.
const (
	CBR BitrateMode = iota
	VBR
)

func (m BitrateMode) String() string {
	if m == VBR {
		return "VBR"
	}
	return "CBR"
}

// Config describes one encoder. Zero fields take the defaults noted.
type Config struct {
	// Open opens the device node. It runs at the start of every Run, so a
	// supervisor that sees ErrDeviceGone just calls Run again. Required;
	// OpenPath(path) is the usual value.
	Open func() (v4l2.Device, error)

	// Width and Height of the raw frames, required.
	Width, Height int
	// PixelFormat of the raw frames on the OUTPUT queue: v4l2.PixFmtNV12
	// (default), v4l2.PixFmtYUV420 or v4l2.PixFmtYUYV.
	PixelFormat uint32
	// CodedFormat on the CAPTURE queue: v4l2.PixFmtH264 (default), or
	// v4l2.PixFmtFWHT for vicodec in the test rig.
	CodedFormat uint32
	// FrameRate in frames per second (default 30), set with S_PARM.
	FrameRate int

	// Bitrate in bits per second (default 2 Mbit/s) and its mode (CBR).
	Bitrate     int
	BitrateMode BitrateMode
	// KeyframeInterval is H264_I_PERIOD in frames (default 4 s of frames).
	// Keyframes on demand come from ForceKeyframe.
	KeyframeInterval int
	// Profile and Level as V4L2 menu values; defaults: constrained
	// baseline (what every WebRTC browser decodes) and level 4.0.
	Profile, Level int32
	// MinQP and MaxQP bound quantisation when non-zero.
	MinQP, MaxQP int
	// RepeatSequenceHeader puts SPS/PPS before every IDR so a new viewer can
	// start at any keyframe. Default true; set NoRepeatSequenceHeader to
	// turn it off.
	NoRepeatSequenceHeader bool

	// OutputBuffers and CaptureBuffers to request (default 3 and 4). Few
	// OUTPUT buffers keep latency (and a forced keyframe's delay) low.
	OutputBuffers, CaptureBuffers int
	// InputMemory is v4l2.MemoryMMAP (default: frames are copied in) or
	// v4l2.MemoryDMABuf (frames name a dmabuf fd, e.g. exported by the
	// camera, and nothing is copied).
	InputMemory v4l2.Memory

	// PollTimeout bounds each wait for device readiness (default 100 ms);
	// it is how quickly the poller notices a stop.
	PollTimeout time.Duration
	// StallTimeout: with frames queued and no output for this long, Run
	// returns ErrStalled (default 2 s).
	StallTimeout time.Duration
	// DrainTimeout bounds the drain on stop (default 1 s).
	DrainTimeout time.Duration

	// Sink receives every access unit, on Run's goroutine. AccessUnit.Data
	// points into a driver buffer that is re-queued when Sink returns: copy
	// what you keep. Required.
	Sink func(AccessUnit)

	// Clock for the stall and drain deadlines (default the real clock).
	Clock clockwork.Clock
	// Logger (default slog.Default()); records get component=v4l2m2m.
	Logger *slog.Logger
}

// OpenPath returns a Config.Open that opens path with v4l2.Open.
func OpenPath(path string) func() (v4l2.Device, error) {
	return func() (v4l2.Device, error) { return v4l2.Open(path) }
}

func (c *Config) setDefaults() {
	if c.PixelFormat == 0 {
		c.PixelFormat = v4l2.PixFmtNV12
	}
	if c.CodedFormat == 0 {
		c.CodedFormat = v4l2.PixFmtH264
	}
	if c.FrameRate == 0 {
		c.FrameRate = 30
	}
	if c.Bitrate == 0 {
		c.Bitrate = 2_000_000
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 4 * c.FrameRate
	}
	if c.Profile == 0 {
		c.Profile = v4l2.H264ProfileConstrainedBaseline
	}
	if c.Level == 0 {
		c.Level = v4l2.H264Level4_0
	}
	if c.OutputBuffers == 0 {
		c.OutputBuffers = 3
	}
	if c.CaptureBuffers == 0 {
		c.CaptureBuffers = 4
	}
	if c.InputMemory == 0 {
		c.InputMemory = v4l2.MemoryMMAP
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = 100 * time.Millisecond
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 2 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = time.Second
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Open == nil:
		return fmt.Errorf("%w: Open is nil", ErrConfig)
	case c.Sink == nil:
		return fmt.Errorf("%w: Sink is nil", ErrConfig)
	case c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("%w: size %dx%d (positive and even)", ErrConfig, c.Width, c.Height)
	case c.FrameRate < 1 || c.FrameRate > 240:
		return fmt.Errorf("%w: frame rate %d", ErrConfig, c.FrameRate)
	case c.Bitrate < 10_000:
		return fmt.Errorf("%w: bitrate %d", ErrConfig, c.Bitrate)
	case c.OutputBuffers < 1 || c.OutputBuffers > 32 || c.CaptureBuffers < 1 || c.CaptureBuffers > 32:
		return fmt.Errorf("%w: buffer counts %d/%d", ErrConfig, c.OutputBuffers, c.CaptureBuffers)
	case c.InputMemory != v4l2.MemoryMMAP && c.InputMemory != v4l2.MemoryDMABuf:
		return fmt.Errorf("%w: input memory %v", ErrConfig, c.InputMemory)
	case c.MinQP < 0 || c.MaxQP < 0 || c.MinQP > 51 || c.MaxQP > 51 || (c.MaxQP != 0 && c.MinQP > c.MaxQP):
		return fmt.Errorf("%w: QP range %d..%d", ErrConfig, c.MinQP, c.MaxQP)
	}
	if _, err := frameSize(c.PixelFormat, c.Width, c.Height); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}
