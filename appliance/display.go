package appliance

import (
	"strings"

	"tether/appliance/peer"
	"tether/media"
	"tether/media/display"
	"tether/signaling/socketio"
)

// The counter's screen (issue 15 §4, §5): built from the display setting,
// fed the customer's video by customerTrack (speaker.go), the counter's own
// picture by the pipeline's preview tap, and a status text derived here
// from what Run already knows.
//
// Which absence is a fault: "display none" builds nothing (nothing is
// decoded) and lists the display as off. "display auto" — the Pi
// profiles' default — uses the first DRM card with a connected output if
// there is one; a counter without a screen is normal (a headless Pi 4), so
// a missing screen is listed as off, not as a fault. A card path
// ("/dev/dri/card1") says a screen is expected: missing, failed or
// reopening, it is the overall state no-display (LEDs, console, setup
// page, device:status, metrics), like a configured speaker.

// keyframeAsker is what the display's keyframe requests need of the WebRTC
// layer (peer.Peer): an RTCP PLI to the customer's sender.
type keyframeAsker interface {
	RequestCustomerKeyframe(ssrc uint32)
}

// newScreen builds the display unless the configuration has none
// ("display none"; Deps.OpenScreen replaces the output even then). Its
// state changes reach Run as events; its keyframe requests go to the
// WebRTC layer, built after it (a.peer is set before Run, so before any
// customer picture asks). It returns the preview tap for the pipeline
// (nil without a display: the camera's frames are not copied).
func (a *App) newScreen() (func(media.RawFrame), error) {
	if a.cfg.Display == "none" && a.deps.OpenScreen == nil {
		return nil, nil
	}
	open := a.deps.OpenScreen
	switch {
	case open != nil:
	case a.cfg.Display == "test":
		// The sim board's monitor: 1280×720 in memory, so a benchmark of a
		// two-way call decodes and composes as a counter with a screen.
		open = func() (display.Screen, error) { return display.NewMemScreen(1280, 720), nil }
	default:
		open = display.ScreenOpener(a.cfg.Display)
	}
	d, err := display.New(display.Config{
		OpenScreen: open,
		RequestKeyframe: func(ssrc uint32) {
			if k, ok := a.peer.(keyframeAsker); ok {
				k.RequestCustomerKeyframe(ssrc)
			}
		},
		OnChange: func(display.Status) { a.q.post(evScreen{}) },
		Clock:    a.clk,
		Logger:   a.deps.Logger,
	})
	if err != nil {
		return nil, err
	}
	a.screen = d
	a.screenText = "starting"
	// The self view costs a downscaled copy per camera frame: only while
	// a screen is open (a headless counter on "auto" pays nothing).
	return func(f media.RawFrame) {
		if d.Status().State == media.SourceOK {
			d.SelfFrame(f)
		}
	}, nil
}

// screenOpen reports whether the display has a screen open (or is still
// looking for the first time): the customer's video is decoded only then.
// A screen that is absent ("auto" on a headless counter, or a named card
// that is missing) decodes nothing; one plugged in mid-call shows the
// next call.
func (a *App) screenOpen() bool {
	return a.screen != nil && a.screen.Status().State != media.SourceMissing
}

// screenExpected reports whether the display setting names a card: only
// then is a missing screen a fault.
func (a *App) screenExpected() bool { return strings.HasPrefix(a.cfg.Display, "/dev/") }

// displayDevice is the display's entry for the device list: its state and
// error, off where no screen is wanted or an optional one is absent.
func (a *App) displayDevice() (media.SourceState, string) {
	if a.screen == nil {
		return media.SourceOff, "no display configured"
	}
	st := a.screen.Status()
	if st.State == media.SourceMissing && !a.screenExpected() {
		return media.SourceOff, "no screen connected"
	}
	msg := st.Error
	if st.DecoderError != "" {
		msg = strings.TrimPrefix(msg+"; decoder: "+st.DecoderError, "; ")
	}
	return st.State, msg
}

// withOutputs merges the speaker's and the display's state into the
// pipeline's status, so Devices lists all four.
func (a *App) withOutputs(s media.Status) media.Status {
	state, msg := a.displayDevice()
	return s.WithPlayer(a.speakerStatus()).WithDisplay(state, msg)
}

// Status texts of the screen when no customer picture is on it.
const (
	screenWaiting      = "waiting for a customer"
	screenReconnecting = "reconnecting…"
	screenConnecting   = "connecting…"
	screenLogin        = "login needed"
	screenInCall       = "in a call"
)

// showStatus derives the screen's status text from what Run knows (the
// session, the socket, the call) and sends it on change only. Run
// goroutine, after every event.
func (a *App) showStatus() {
	if a.screen == nil {
		return
	}
	var lines []string
	switch {
	case a.needLogin:
		lines = []string{screenLogin, "open the setup page to log in"}
	case a.sockState != socketio.Connected && a.everConnected:
		lines = []string{screenReconnecting}
	case a.sockState != socketio.Connected:
		lines = []string{screenConnecting}
	case a.callState != peer.Idle && a.callState != peer.Waiting:
		lines = []string{screenInCall, "no picture from the customer"}
	default:
		lines = []string{screenWaiting}
	}
	if text := strings.Join(lines, "\n"); text != a.screenText {
		a.screenText = text
		a.screen.SetStatus(lines...)
	}
}
