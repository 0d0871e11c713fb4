package health

import (
	"fmt"
	"time"

	"tether/appliance/peer"
	"tether/media"
	"tether/signaling/socketio"
)

// Facts are everything components have reported; Derive turns them into
// one State.
type Facts struct {
	// Booting is true from start until the runtime marks start-up done.
	Booting bool
	Network NetworkStatus
	Socket  SocketStatus
	Peer    PeerStatus
	Media   MediaStatus
	// Restarting is the reason for a pending self-restart; "" = none.
	Restarting string
	// Fault is the reason for a fatal fault; "" = none.
	Fault string
}

// Equal reports whether f and g hold the same facts.
func (f Facts) Equal(g Facts) bool {
	return f.Booting == g.Booting && f.Network == g.Network && f.Socket == g.Socket && f.Peer == g.Peer &&
		f.Media.Equal(g.Media) && f.Restarting == g.Restarting && f.Fault == g.Fault
}

// Thresholds decide when an in-service appliance counts as degraded.
type Thresholds struct {
	// DegradedRTT: a socket keep-alive or peer heartbeat RTT above this is
	// degraded. The seed measured 50-200 ms in the field; default 400 ms.
	DegradedRTT time.Duration
	// MaxMissedHeartbeats: this many consecutive missed 5 s heartbeats is
	// degraded. Default 2 (10 s without an answer).
	MaxMissedHeartbeats int
	// DegradedLoss: a packet-loss fraction at or above this is degraded.
	// Default 0.05.
	DegradedLoss float64
}

// Default thresholds.
const (
	DefaultDegradedRTT         = 400 * time.Millisecond
	DefaultMaxMissedHeartbeats = 2
	DefaultDegradedLoss        = 0.05
)

// withDefaults fills zero fields and validates the rest.
func (th Thresholds) withDefaults() (Thresholds, error) {
	if th.DegradedRTT < 0 || th.MaxMissedHeartbeats < 0 || th.DegradedLoss < 0 || th.DegradedLoss > 1 || th.DegradedLoss != th.DegradedLoss {
		return th, fmt.Errorf("health: thresholds %+v: %w", th, ErrBadThreshold)
	}
	if th.DegradedRTT == 0 {
		th.DegradedRTT = DefaultDegradedRTT
	}
	if th.MaxMissedHeartbeats == 0 {
		th.MaxMissedHeartbeats = DefaultMaxMissedHeartbeats
	}
	if th.DegradedLoss == 0 {
		th.DegradedLoss = DefaultDegradedLoss
	}
	return th, nil
}

// Derive computes the overall state and a one-line reason. The rules are
// applied in this priority order; the first that matches wins:
//
//  1. Restarting    — a self-restart is pending (it explains everything else).
//  2. Fault         — a fatal fault (a build without the encoders it needs).
//  3. Booting       — start-up not finished yet.
//  4. NoCamera      — camera missing, failed or reopening.
//  5. NoEncoder     — no video encoder runs.
//  6. NoMicrophone  — microphone missing, failed or reopening, or audio off.
//  7. NoSpeaker     — a configured speaker missing, failed or reopening.
//     NoDisplay     — an expected display (a card path) missing, failed or
//     reopening.
//  8. NoNetwork     — the network watcher reported the network down.
//  9. LoginNeeded   — the socket reports session expired.
//  10. HubUnreachable — socket not connected, or connected but not in the room (peer idle).
//  11. Degraded     — peer degraded or ICE-restarting, RTT over threshold,
//     missed heartbeats, or packet loss.
//  12. InCall       — peer negotiating or connected with a customer.
//  13. ReadyWaiting — peer waiting for a customer.
//
// The media states come before the network ones: they are what a
// technician at the counter can fix, and a customer served without a
// picture or sound is not "ready" (issue 11).
//
// Derive is pure; th must already have its defaults (the Tracker fills them).
func Derive(f Facts, th Thresholds) (State, string) {
	if f.Restarting != "" {
		return StateRestarting, f.Restarting
	}
	if f.Fault != "" {
		return StateFault, f.Fault
	}
	if f.Booting {
		return StateBooting, "starting"
	}
	if st, r := mediaState(f.Media); r != "" {
		return st, r
	}
	if f.Network.State == NetworkDown {
		return StateNoNetwork, withErr("network down", f.Network.Detail)
	}
	s := f.Socket
	switch s.State {
	case socketio.SessionExpired:
		return StateLoginNeeded, "session expired: log in on the setup page"
	case socketio.Connected:
	default:
		r := "socket " + s.State.String()
		if s.Attempt > 0 {
			r += fmt.Sprintf(", attempt %d", s.Attempt)
		}
		return StateHubUnreachable, withErr(r, s.LastError)
	}
	p := f.Peer
	if p.State == peer.Idle {
		return StateHubUnreachable, "connected, joining the room"
	}
	if r := degradedReason(f, th); r != "" {
		return StateDegraded, r
	}
	switch p.State {
	case peer.Negotiating:
		return StateInCall, "customer connecting"
	case peer.Connected:
		return StateInCall, "in call via " + pathName(p.Path)
	}
	return StateReadyWaiting, "waiting for a customer"
}

func degradedReason(f Facts, th Thresholds) string {
	p := f.Peer
	switch {
	case p.State == peer.Restarting:
		return withErr("ICE restart", p.LastError)
	case p.State == peer.Degraded:
		return withErr("peer degraded", p.LastError)
	case p.MissedHeartbeats >= th.MaxMissedHeartbeats:
		return fmt.Sprintf("%d heartbeats missed", p.MissedHeartbeats)
	case p.RTT > th.DegradedRTT:
		return fmt.Sprintf("peer RTT %v > %v", p.RTT, th.DegradedRTT)
	case f.Socket.RTT > th.DegradedRTT:
		return fmt.Sprintf("socket RTT %v > %v", f.Socket.RTT, th.DegradedRTT)
	case p.Loss >= th.DegradedLoss:
		return fmt.Sprintf("packet loss %.1f%%", p.Loss*100)
	}
	return ""
}

// mediaState is the device a customer would miss, video first: the camera,
// then the encoder, then the microphone, then the counter's speaker (the
// customer is served, but not heard: issue 15), then its display (served,
// not seen); "" when all deliver.
// Starting counts as delivering (booting covers it), the test pattern and
// tone too (they are only ever asked for: the demo, camera=test), and a
// speaker or display that is off ("speaker none", "display none", or
// "display auto" with no screen connected: the appliance reports those as
// off, see appliance/display.go).
func mediaState(m MediaStatus) (State, string) {
	if cam := m.Device(media.DeviceCamera); !cam.State.Working() {
		return StateNoCamera, withErr("camera "+cam.State.String(), cam.Error)
	}
	if m.EncoderDown() {
		return StateNoEncoder, withErr("video encoder down", m.EncoderError)
	}
	if mic := m.Device(media.DeviceMic); !mic.State.Working() {
		what := "microphone " + mic.State.String()
		if mic.State == media.SourceOff {
			what = "audio off"
		}
		return StateNoMicrophone, withErr(what, mic.Error)
	}
	if spk := m.Device(media.DeviceSpeaker); spk.Down() {
		return StateNoSpeaker, withErr("speaker "+spk.State.String(), spk.Error)
	}
	if d := m.Device(media.DeviceDisplay); d.Down() {
		return StateNoDisplay, withErr("display "+d.State.String(), d.Error)
	}
	return 0, ""
}

// pathName is the path as the console and reasons print it: the candidate
// type, or "unknown" before a pair is selected.
func pathName(p peer.Path) string {
	if p == peer.PathNone {
		return "unknown"
	}
	return string(p)
}

func withErr(what, detail string) string {
	if detail == "" {
		return what
	}
	return what + ": " + detail
}
