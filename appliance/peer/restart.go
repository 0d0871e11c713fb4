package peer

import (
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// ICE timers (SettingEngine.SetICETimeouts) and why.
//
// RFC 7675 §5.1 (consent freshness) has an endpoint send a STUN Binding
// request on the selected pair every ~5 s (randomised 4–6 s) and stop
// sending when no response came for 30 s. Those 30 s are the security limit
// for sending without consent, not a liveness target: the RFC sets no lower
// bound on the check rate and leaves it to the application to notice a dead
// path earlier, which is what the ICE "disconnected" state is for. A counter
// appliance must notice in ≤ 3 s, so:
//
//   - keepAliveInterval 500 ms: pion sends a Binding request (not an
//     indication, so each one is a consent check answered by the browser)
//     on the selected pair every 500 ms. That is ~2 small packets a second,
//     10× the RFC 7675 rate and far below the pacing limit of RFC 8445 §14.
//     The appliance only sends media, so these responses (and RTCP) are what
//     keeps the pair's "last received" fresh.
//   - disconnectedTimeout 1.5 s: three checks in a row unanswered. One or
//     two lost checks (a burst of loss) do not trip it.
//   - failedTimeout 1.5 s more: pion declares failed after
//     disconnected+failed = 3 s of silence. Its agent loop runs every
//     min(keepAlive, disconnected, failed) = 500 ms, so "disconnected" is
//     seen 1.5–2.0 s after the last packet and "failed" 3.0–3.5 s after.
//     pion also fails a checking agent after the same 3 s (its
//     initialCheckingTimeout), which bounds a restart attempt that finds
//     no pair.
//
// On "disconnected" this package waits DisconnectedGrace (1.5 s) before
// restarting: a path that only hiccupped comes back by itself. The restart
// therefore starts ≈ 3 s after the path died, the same moment pion would
// report "failed". On "failed" the restart is immediate.

// resendAfter is how long an unanswered offer must have been out before a
// restart attempt sends it again.
const resendAfter = 500 * time.Millisecond

// backoff returns the wait after restart attempt n (0-based) before the
// next one if the path has not come back: 1, 2, 4, 8, 8, ... s, the seed's
// "ICE restart (1 s, 2 s, 4 s, 8 s ...)". It never gives up; reaching
// Connected resets n.
func backoff(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	if n > 3 {
		n = 3
	}
	return time.Second << n
}

// restart performs one ICE restart attempt (RFC 8445 §9) on the active
// PeerConnection and arms the backoff timer for the next. Run goroutine only.
func (p *Peer) restart(c *conn, reason string) {
	if c.pc == nil || c.closed {
		return
	}
	c.gen.Add(1) // events from the previous ICE generation are now stale
	c.restarts++
	p.stats.restarts++
	attempt := c.attempts
	c.attempts++
	p.setState(Restarting, reason)

	// TURN fallback: if nothing has connected for RelayFallbackAfter since
	// the trouble began, gather relay candidates only from now on (the W3C
	// iceTransportPolicy "relay", applied at the next gathering).
	wantRelay := !c.relayOnly && p.hasTURN() && !c.troubleSince.IsZero() &&
		p.cfg.Clock.Since(c.troubleSince) >= p.cfg.RelayFallbackAfter
	if wantRelay || c.serversStale {
		p.applyConfig(c, wantRelay)
	}

	p.log.Info("ice restart", "customer", c.user, "attempt", attempt+1, "reason", reason,
		"next_in", backoff(attempt), "relay_only", c.relayOnly)

	switch c.pc.SignalingState() {
	case webrtc.SignalingStateStable:
		p.makeOffer(c, true)
	case webrtc.SignalingStateHaveLocalOffer:
		// An offer of ours is still unanswered (the customer or the
		// socket was away). pion cannot roll a local offer back nor set a
		// second one over it (pion/webrtc#2133; checkNextSignalingState
		// rejects have-local-offer -> SetLocal), so the impolite side
		// re-sends the pending offer; the polite peer answers it.
		// Not if it left only just now: its answer may be in flight, and a
		// duplicate arriving after that answer reads as a new offer.
		if pend := c.pc.PendingLocalDescription(); pend != nil && p.cfg.Clock.Since(c.offerSentAt) >= resendAfter {
			c.offerSentAt = p.cfg.Clock.Now()
			p.send(c, Signal{Description: pend})
		}
	default:
		// have-remote-offer never lasts past one event: we answer at once.
	}
	p.armRestartTimer(c, backoff(attempt))
}

// armRestartTimer schedules a restart check after d. Run goroutine only.
func (p *Peer) armRestartTimer(c *conn, d time.Duration) {
	p.timerSeq++
	c.restartTimer = p.timerSeq
	seq, id := p.timerSeq, c.id
	p.stopTimer(&c.restartT)
	c.restartT = p.cfg.Clock.AfterFunc(d, func() { p.enqueue(event{kind: evRestartTimer, connID: id, timer: seq}) })
}

// armGraceTimer schedules the disconnected-grace check. Run goroutine only.
func (p *Peer) armGraceTimer(c *conn) {
	p.timerSeq++
	c.graceTimer = p.timerSeq
	seq, id := p.timerSeq, c.id
	p.stopTimer(&c.graceT)
	c.graceT = p.cfg.Clock.AfterFunc(p.cfg.DisconnectedGrace, func() { p.enqueue(event{kind: evGraceTimer, connID: id, timer: seq}) })
}

func (p *Peer) hasTURN() bool {
	for _, s := range p.iceServers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}

// applyConfig gives c the current ICE servers and, with relay, the relay-only
// policy; both take effect at the gathering that the restart starts.
//
// pion v4.2.26 races SetConfiguration against a gathering that is starting
// (ice Agent.UpdateOptions writes the URL list that gatherCandidatesInternal
// hands to a new goroutine without a lock; seen with -race). So the change
// is made only while no gathering runs; otherwise it waits for the next
// restart attempt (at most 8 s later). Run goroutine only.
func (p *Peer) applyConfig(c *conn, relay bool) {
	if c.pc.ICEGatheringState() == webrtc.ICEGatheringStateGathering {
		c.serversStale = true
		p.log.Debug("ice config change deferred: gathering in progress", "customer", c.user, "relay", relay)
		return
	}
	cfg := c.pc.GetConfiguration()
	cfg.ICEServers = p.iceServers
	if relay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	if err := c.pc.SetConfiguration(cfg); err != nil {
		p.log.Warn("update ice configuration", "customer", c.user, "err", err)
		return
	}
	c.serversStale = false
	if relay {
		c.relayOnly = true
		p.log.Info("falling back to TURN relay", "customer", c.user)
	}
}
