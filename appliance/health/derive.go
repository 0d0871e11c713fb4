package health

import (
	"fmt"
	"time"
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
//  2. Fault         — a fatal fault, or camera/microphone failed for good.
//  3. Booting       — start-up not finished yet.
//  4. NoNetwork     — the network watcher reported the network down.
//  5. LoginNeeded   — the socket reports session expired.
//  6. HubUnreachable — socket not connected, or connected but not in the room (peer idle).
//  7. Degraded      — peer degraded or ICE-restarting, RTT over threshold,
//     missed heartbeats, packet loss, or a media device reopening.
//  8. InCall        — peer negotiating or connected with a customer.
//  9. ReadyWaiting  — peer waiting for a customer.
//
// Derive is pure; th must already have its defaults (the Tracker fills them).
func Derive(f Facts, th Thresholds) (State, string) {
	if f.Restarting != "" {
		return StateRestarting, f.Restarting
	}
	if f.Fault != "" {
		return StateFault, f.Fault
	}
	if f.Media.Camera == DeviceFailed {
		return StateFault, withErr("camera failed", f.Media.LastError)
	}
	if f.Media.Mic == DeviceFailed {
		return StateFault, withErr("microphone failed", f.Media.LastError)
	}
	if f.Booting {
		return StateBooting, "starting"
	}
	if f.Network.State == NetworkDown {
		return StateNoNetwork, withErr("network down", f.Network.Detail)
	}
	s := f.Socket
	switch s.State {
	case SocketSessionExpired:
		return StateLoginNeeded, "session expired: log in on the setup page"
	case SocketConnected:
	default:
		r := "socket " + s.State.String()
		if s.Attempt > 0 {
			r += fmt.Sprintf(", attempt %d", s.Attempt)
		}
		return StateHubUnreachable, withErr(r, s.LastError)
	}
	p := f.Peer
	if p.State == PeerIdle {
		return StateHubUnreachable, "connected, joining the room"
	}
	if r := degradedReason(f, th); r != "" {
		return StateDegraded, r
	}
	switch p.State {
	case PeerNegotiating:
		return StateInCall, "customer connecting"
	case PeerConnected:
		return StateInCall, "in call via " + p.Path.String()
	}
	return StateReadyWaiting, "waiting for a customer"
}

func degradedReason(f Facts, th Thresholds) string {
	p := f.Peer
	switch {
	case p.State == PeerRestarting:
		return withErr("ICE restart", p.LastError)
	case p.State == PeerDegraded:
		return withErr("peer degraded", p.LastError)
	case p.MissedHeartbeats >= th.MaxMissedHeartbeats:
		return fmt.Sprintf("%d heartbeats missed", p.MissedHeartbeats)
	case p.RTT > th.DegradedRTT:
		return fmt.Sprintf("peer RTT %v > %v", p.RTT, th.DegradedRTT)
	case f.Socket.RTT > th.DegradedRTT:
		return fmt.Sprintf("socket RTT %v > %v", f.Socket.RTT, th.DegradedRTT)
	case p.Loss >= th.DegradedLoss:
		return fmt.Sprintf("packet loss %.1f%%", p.Loss*100)
	case f.Media.Camera == DeviceReopening:
		return withErr("camera reopening", f.Media.LastError)
	case f.Media.Mic == DeviceReopening:
		return withErr("microphone reopening", f.Media.LastError)
	}
	return ""
}

func withErr(what, detail string) string {
	if detail == "" {
		return what
	}
	return what + ": " + detail
}
