package appliance

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/webrtc/v4"

	"tether/appliance/peer"
	"tether/media"
	"tether/media/aec"
	"tether/media/display"
	"tether/media/testsrc"
)

// speakerOut is what the appliance needs of the speaker's player
// (media.Player). SetSource(nil) stops the customer's audio without
// closing the device, so the next customer starts at once (issue 15 §2).
type speakerOut interface {
	Run(ctx context.Context) error
	SetSource(media.RTPReader)
	SetVolume(percent int)
	Status() media.PlayerStatus
}

// screenOut is what the appliance needs of the display
// (media/display.Display), the same way: SetCustomer(nil) shows the status
// screen without closing the screen or the decoder. Built in display.go.
type screenOut interface {
	Run(ctx context.Context) error
	SetCustomer(media.RTPReader)
	SetStatus(lines ...string)
	Status() display.Status
}

// newSpeaker builds the speaker's player unless the configuration has
// none ("speaker none"; Deps.OpenSpeaker replaces the device even then).
// Its state changes reach Run as events, like the pipeline's.
func (a *App) newSpeaker(echo *aec.Canceller) error {
	if a.cfg.Speaker == "none" && a.deps.OpenSpeaker == nil {
		return nil
	}
	onChange := func(media.PlayerStatus) { a.q.post(evSpeaker{}) }
	p, err := newPlayer(a.cfg, a.deps.OpenSpeaker, echo, onChange, a.deps.Logger, a.clk)
	if err != nil {
		return err
	}
	a.speaker = p
	return nil
}

// speakerStatus is the player's status; "off" without one.
func (a *App) speakerStatus() media.PlayerStatus {
	if a.speaker == nil {
		return media.PlayerStatus{Speaker: media.SourceOff, SpeakerError: "no speaker configured"}
	}
	return a.speaker.Status()
}

// onTrack hands a customer's track to Run (peer.Config.OnTrack; a pion
// goroutine). When Run has ended the track is drained here until its
// PeerConnection closes, so pion's buffers never back up.
func (a *App) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if !a.q.post(evTrack{t}) {
		drainTrack(context.Background(), t)
	}
}

// customerTrack routes a customer's track; Run goroutine. Opus audio goes
// to the speaker, video to the display (when there is one); anything else,
// and a track that comes in after its call ended, is read and dropped.
func (a *App) customerTrack(ctx context.Context, t *webrtc.TrackRemote) {
	inCall := a.callState != peer.Idle && a.callState != peer.Waiting
	kind, mime := t.Kind(), t.Codec().MimeType
	switch {
	case inCall && kind == webrtc.RTPCodecTypeAudio && a.speaker != nil && strings.EqualFold(mime, webrtc.MimeTypeOpus):
		a.log.Info("customer's audio to the speaker", "ssrc", uint32(t.SSRC()))
		a.speaker.SetSource(t)
		return
	case inCall && kind == webrtc.RTPCodecTypeVideo && a.screenOpen():
		a.log.Info("customer's video to the display", "ssrc", uint32(t.SSRC()), "codec", mime)
		a.screen.SetCustomer(t)
		return
	}
	a.log.Debug("customer track not played", "kind", kind.String(), "codec", mime, "in_call", inCall)
	a.drains.Add(1)
	go func() { defer a.drains.Done(); drainTrack(ctx, t) }()
}

// customerGone stops playing the customer's media (their call ended, or
// another customer took over); the devices stay open. Run goroutine.
func (a *App) customerGone() {
	if a.speaker != nil {
		a.speaker.SetSource(nil)
	}
	if a.screen != nil {
		a.screen.SetCustomer(nil)
	}
}

// drainTrack reads t until its PeerConnection closes or ctx ends, so the
// receive buffers do not fill.
func drainTrack(ctx context.Context, t *webrtc.TrackRemote) {
	stop := context.AfterFunc(ctx, func() { _ = t.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

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
// microphone's; "test" for a paced sink that discards the sound; empty
// takes the board's audio card hint; "none" has no speaker) and the
// volume. open, when set, replaces the configured device
// (Deps.OpenSpeaker); echo may be nil.
func newPlayer(cfg Config, open func() (media.AudioSink, error), echo *aec.Canceller, onChange func(media.PlayerStatus),
	log *slog.Logger, clk clockwork.Clock) (*media.Player, error) {
	pc := media.PlayerConfig{OpenSpeaker: open, OnChange: onChange, Clock: clk, Logger: log}
	if open == nil && cfg.Speaker == "test" {
		// The sim board's sound card: paced like one, the sound discarded
		// (benchmarks of a two-way call, CI).
		spk := &testsrc.Speaker{}
		open = func() (media.AudioSink, error) { return spk.Open() }
		pc.OpenSpeaker = open
	}
	if open == nil && cfg.Speaker != "none" {
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
