package appliance

import (
	"log/slog"

	"github.com/jonboulle/clockwork"

	"tether/media"
	"tether/media/swenc"
)

// newPipeline builds the media pipeline from the configuration: the
// board's encoder node, resolution and bitrate; test sources where the
// camera or microphone is "test" (the sim board, the demo, CI). Without
// software encoders (sw false) it never picks openh264 and has no Opus, as
// a cgo-off build. echo (nil: none) cleans the speaker's echo from the
// microphone; preview (nil: none) sees the camera's frames for the
// display's self view.
func newPipeline(cfg Config, sw bool, echo media.EchoCanceller, preview func(media.RawFrame), onChange func(media.Status),
	log *slog.Logger, clk clockwork.Clock) (Media, error) {
	mc := media.Config{
		Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS,
		Bitrate:       cfg.BitrateKbps * 1000,
		TestVideo:     cfg.Camera == "test",
		TestAudio:     cfg.Microphone == "test",
		EncoderDevice: cfg.Profile.Encoder.Device,
		Echo:          echo,
		Preview:       preview,
		OnChange:      onChange,
		Clock:         clk,
		Logger:        log,
	}
	if !sw {
		mc.Encoder = media.EncoderHardwareOnly
		mc.NewAudioEncoder = func(int) (media.AudioEncoder, error) { return nil, swenc.ErrNoSoftwareEncoder }
	}
	openCamera, openMic := deviceOpeners(cfg)
	if !mc.TestVideo {
		mc.OpenCamera = openCamera
	}
	if !mc.TestAudio {
		mc.OpenMic = openMic
	}
	return media.New(mc)
}
