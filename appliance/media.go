package appliance

import (
	"log/slog"

	"github.com/benbjohnson/clock"

	"tether/media"
)

// newPipeline builds the media pipeline from the configuration: the
// board's encoder node, resolution and bitrate; test sources where the
// camera or microphone is "test" (the sim board, the demo, CI).
func newPipeline(cfg Config, log *slog.Logger, clk clock.Clock) (Media, error) {
	mc := media.Config{
		Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS,
		Bitrate:       cfg.BitrateKbps * 1000,
		TestVideo:     cfg.Camera == "test",
		TestAudio:     cfg.Microphone == "test",
		EncoderDevice: cfg.Profile.Encoder.Device,
		Clock:         clk,
		Logger:        log,
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
