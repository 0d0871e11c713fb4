package media

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
)

// Config describes the pipeline. Zero fields take the defaults noted; the
// appliance fills them from the board profile and stored settings.
type Config struct {
	// Width, Height and FPS asked of the camera and used by the test
	// pattern (default 1280x720 at 30). The encoder follows whatever size
	// the camera delivers.
	Width, Height, FPS int
	// Bitrate is the starting video bitrate (default 2 Mbit/s);
	// SetBitrate clamps to MinBitrate..MaxBitrate (default 150 kbit/s and
	// 2x Bitrate).
	Bitrate, MinBitrate, MaxBitrate int
	// KeyframeInterval between periodic IDRs (default 4 s); a new customer
	// does not wait for it but calls RequestKeyframe.
	KeyframeInterval time.Duration
	// AudioBitrate for Opus (default 32 kbit/s).
	AudioBitrate int

	// OpenCamera opens the camera. Nil or TestVideo selects the test
	// pattern. ErrNoDevice from its first calls is SourceMissing: nothing
	// is sent until the camera appears (the test pattern never stands in
	// for a missing camera; issue 11).
	OpenCamera func() (VideoSource, error)
	// DeviceProbe is how often a camera or microphone missing since
	// start-up is looked for (default 5 s), so one plugged in by a
	// technician is taken within that time.
	DeviceProbe time.Duration
	// OpenMic opens the microphone; nil or TestAudio selects the test
	// tone; ErrNoDevice from its first calls is SourceMissing.
	OpenMic              func() (AudioSource, error)
	TestVideo, TestAudio bool

	// Encoder is the encoder preference (default auto: hardware when
	// probing finds a mem2mem H.264 encoder, else software).
	Encoder EncoderChoice
	// EncoderDevice names the mem2mem node to use ("/dev/video11"); empty
	// means probe /dev/video*.
	EncoderDevice string
	// Encoders, when set, replaces probing: the pipeline uses the first
	// factory (tests pass a fake here).
	Encoders []EncoderFactory
	// FindHardware probes for a hardware encoder node (default: scan
	// /dev/video* with v4l2m2m.Find).
	FindHardware func() (string, error)
	// NewAudioEncoder makes the Opus encoder (default swenc.NewOpus).
	NewAudioEncoder func(bitrate int) (AudioEncoder, error)
	// Echo, when set, cancels the speaker's echo from every microphone
	// chunk before it is encoded (aec.Canceller, whose reference the
	// Player feeds; issue 15). The test tone bypasses it.
	Echo EchoCanceller

	// ReopenMin and ReopenMax bound the backoff between attempts to reopen
	// a lost device or restart a failed encoder (default 500 ms and 30 s).
	ReopenMin, ReopenMax time.Duration
	// StreamID of both tracks (default "tether").
	StreamID string
	// Preview, when set, sees every raw frame on its way to the encoder
	// (I420, NV12 or YUYV, after any MJPEG decode), on the video
	// goroutine: it must copy what it keeps and return at once. The
	// display takes the counter's own picture from it (issue 15 §4)
	// without a second camera reader or any effect on the encoder.
	Preview func(RawFrame)
	// OnChange is called (from a pipeline goroutine; it must not block)
	// when a source state or the encoder kind changes.
	OnChange func(Status)
	// Clock paces the test sources, backoff and stats (default real).
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// EchoCanceller removes the speaker's echo from microphone samples in
// place (aec.Canceller); backlog is the sound the microphone's ring still
// holds (0 when unknown), which dates the samples.
type EchoCanceller interface {
	Capture(pcm []int16, backlog time.Duration) error
}

// backlogger is implemented by a microphone that can tell how much sound
// waits in its ring (mic.Mic).
type backlogger interface {
	Backlog() time.Duration
}

// AudioEncoder is the Opus encoder (swenc.Opus or a fake).
type AudioEncoder interface {
	Encode(pcm []int16, out []byte) (int, error)
	Close() error
}

func (c *Config) setDefaults() {
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = 1280, 720
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.Bitrate == 0 {
		c.Bitrate = 2_000_000
	}
	if c.MinBitrate == 0 {
		c.MinBitrate = 150_000
	}
	if c.MaxBitrate == 0 {
		c.MaxBitrate = 2 * c.Bitrate
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 4 * time.Second
	}
	if c.AudioBitrate == 0 {
		c.AudioBitrate = 32_000
	}
	deviceDefaults(&c.DeviceProbe, &c.ReopenMin, &c.ReopenMax)
	if c.StreamID == "" {
		c.StreamID = "tether"
	}
	if c.FindHardware == nil {
		c.FindHardware = findHardware
	}
	if c.NewAudioEncoder == nil {
		c.NewAudioEncoder = newOpus
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
	case c.Width < 64 || c.Height < 64 || c.Width%2 != 0 || c.Height%2 != 0 || c.Width > 4096 || c.Height > 4096:
		return fmt.Errorf("%w: size %dx%d", ErrConfig, c.Width, c.Height)
	case c.FPS < 1 || c.FPS > 120:
		return fmt.Errorf("%w: %d fps", ErrConfig, c.FPS)
	case c.MinBitrate < 10_000 || c.Bitrate < c.MinBitrate || c.MaxBitrate < c.Bitrate:
		return fmt.Errorf("%w: bitrate %d outside %d..%d", ErrConfig, c.Bitrate, c.MinBitrate, c.MaxBitrate)
	case c.KeyframeInterval < 100*time.Millisecond:
		return fmt.Errorf("%w: keyframe interval %v", ErrConfig, c.KeyframeInterval)
	case c.ReopenMin <= 0 || c.ReopenMax < c.ReopenMin:
		return fmt.Errorf("%w: reopen backoff %v..%v", ErrConfig, c.ReopenMin, c.ReopenMax)
	case c.Encoder < EncoderAuto || c.Encoder > EncoderSoftwareOnly:
		return fmt.Errorf("%w: encoder choice %d", ErrConfig, c.Encoder)
	}
	return nil
}

// deviceDefaults fills the device probe and reopen backoff defaults shared
// by the capture devices (Config) and the speaker (PlayerConfig): a probe
// every 5 s for a device missing since start-up, a lost one reopened after
// 500 ms growing to 30 s.
func deviceDefaults(probe, reopenMin, reopenMax *time.Duration) {
	if *probe == 0 {
		*probe = 5 * time.Second
	}
	if *reopenMin == 0 {
		*reopenMin = 500 * time.Millisecond
	}
	if *reopenMax == 0 {
		*reopenMax = 30 * time.Second
	}
}
