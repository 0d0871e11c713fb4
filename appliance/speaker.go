package appliance

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/benbjohnson/clock"

	"tether/media"
	"tether/media/aec"
)

// newEcho returns the echo canceller shared by the microphone's path
// (media.Config.Echo) and the speaker's (media.PlayerConfig.Echo), or nil
// when there is none: no speaker, a test microphone, or a cgo-off build
// (libspeexdsp absent), which is logged.
func newEcho(cfg Config, log *slog.Logger) *aec.Canceller {
	if cfg.Speaker == "none" || cfg.Microphone == "test" {
		return nil
	}
	c, err := aec.New(aec.Config{})
	if err != nil {
		if errors.Is(err, aec.ErrUnavailable) {
			log.Warn("no echo canceller in this build: the customer may hear themselves", "err", err)
		} else {
			log.Error("echo canceller", "err", err)
		}
		return nil
	}
	return c
}

// newPlayer builds the speaker's player from the configuration: the
// speaker setting (a /dev/snd path, or a card name matched like the
// microphone's; empty takes the board's audio card hint; "none" has no
// speaker) and the volume. echo may be nil.
func newPlayer(cfg Config, echo *aec.Canceller, onChange func(media.PlayerStatus), log *slog.Logger, clk clock.Clock) (*media.Player, error) {
	pc := media.PlayerConfig{OnChange: onChange, Clock: clk, Logger: log}
	if cfg.Speaker != "none" {
		path, hint := "", cfg.Profile.Audio.CardHint
		if strings.HasPrefix(cfg.Speaker, "/dev/") {
			path = cfg.Speaker
		} else if cfg.Speaker != "" {
			hint = cfg.Speaker
		}
		pc.OpenSpeaker = media.SpeakerOpener(path, hint)
	}
	if echo != nil {
		pc.Echo = echo
	}
	p, err := media.NewPlayer(pc)
	if err != nil {
		return nil, err
	}
	p.SetVolume(cfg.Volume) // 0 is muted (PlayerConfig's 0 is its default)
	return p, nil
}
