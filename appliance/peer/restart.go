package peer

import (
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"tether/internal/backoff"
)

// ICE timers (SettingEngine.SetICETimeouts) and why.
//
// RFC 7675 §5.1 (consent freshness): consent checks are STUN Binding
// requests on the selected pair every 5 s randomised to 4–6 s ("MUST NOT"
// less than 4 s), and consent expires 30 s after the last response, when
// sending MUST stop. That is a security rule (do not keep blasting a peer
// that stopped agreeing), and 30 s is far too slow to notice a dead path;
// the ICE "disconnected" state exists for that. A counter appliance must
// notice in ≤ 3 s.
//
// How pion v4 (ice v4.4.8) uses the three numbers: its agent loop runs every
// min(keepAlive, disconnected, failed) and on every run with a selected pair
// sends a Binding request on it (agent.go checkKeepalive, "binding request
// instead of indication to support refresh consent schemas"); it reports
// "disconnected" when nothing was received on the pair for
// disconnectedTimeout and "failed" after disconnected+failed. So detection
// in ≤ 3 s with pion's own timers means checks at least every 1.5 s: below
// RFC 7675's 4 s floor. We accept that as libwebrtc (Chrome) does: it pings
// a stable selected pair every 2.5 s and a weak or stabilising one every
// 0.9 s (p2p/base constants STRONG_AND_STABLE_WRITABLE_CONNECTION_PING_INTERVAL
// and WEAK_OR_STABILIZING_WRITABLE_CONNECTION_PING_INTERVAL), also treating
// its connectivity checks as the liveness probe. The numbers:
//
//   - keepAliveInterval 1 s: one ~100-byte request a second (libwebrtc's
//     weak-pair rate); the loop, and so the checks, run every 1 s.
//   - disconnectedTimeout 1.5 s: no check response, RTCP feedback or
//     heartbeat for 1.5 s. One lost response alone does not trip it.
//     Seen 1.5–2.5 s after the path died (loop granularity 1 s).
//   - failedTimeout 8 s more: "failed" 9.5 s after the path died. The
//     restart does not wait for it (see below); it is long on purpose.
//     pion fails an agent still checking after disconnected+failed
//     (initialCheckingTimeout) and then drops its whole checklist, so
//     with a short failedTimeout a restart attempt that finds no pair
//     stops probing after 3 s and sits idle until the next backoff slot,
//     up to 8 s later: a path that comes back in that gap waits for it.
//     9.5 s outlives the longest backoff (8 s), so an attempt keeps
//     checking until the next one replaces it.
//   - maxBindingRequests 50 (SetICEMaxBindingRequests; pion's default
//     is 7): an attempt checks each pair every checkInterval (200 ms)
//     up to this many times, i.e. for 10 s, again covering the longest
//     backoff. When the path returns, the next check (≤ 200 ms) gets
//     through and the call is back without waiting for another attempt.
//     Cost during an outage: one ~100-byte request per pair per 200 ms,
//     what libwebrtc spends on its own checks.
//
// On "disconnected" this package waits DisconnectedGrace (1.5 s) before
// restarting: a path that only hiccupped comes back by itself. The restart
// therefore begins 3.0–4.0 s after the path died; on "failed" (an agent
// whose attempts all went unanswered for 9.5 s) the restart is immediate.

// MaxBindingRequests is how many connectivity checks a candidate pair gets
// in one ICE generation before pion gives it up (see above).
const MaxBindingRequests = 50

// restartBackoff gives the wait after restart attempt n (0-based) before
// the next one if the path has not come back: 1, 2, 4, 8, 8, ... s, the
// seed's "ICE restart (1 s, 2 s, 4 s, 8 s ...)". No jitter: the attempts
// belong to one call. It never gives up; reaching Connected resets n.
var restartBackoff = backoff.Backoff{Min: time.Second, Max: 8 * time.Second}

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
		"next_in", restartBackoff.Delay(attempt), "relay_only", c.relayOnly)

	switch c.pc.SignalingState() {
	case webrtc.SignalingStateStable:
		p.makeOffer(c, true)
	case webrtc.SignalingStateHaveLocalOffer:
		// An offer of ours is still unanswered (the customer or the
		// socket was away). pion cannot roll a local offer back nor set a
		// second one over it (pion/webrtc#2133; checkNextSignalingState
		// rejects have-local-offer -> SetLocal), so the impolite side
		// re-sends the pending offer; the polite peer answers it.
		// Only if it may not have reached the customer (offerUnsure: its
		// send failed, our socket reconnected, the customer rejoined).
		// Otherwise its answer is on the way however slow (a loaded
		// page took 600 ms), and a duplicate arriving after that answer
		// reads as a new offer: a page whose own offer is then pending
		// rolls it back (its camera and mic) and our answer to that
		// offer meets a page in stable ("Called in wrong state", issue
		// 11; TestNoDuplicateOffer).
		if pend := c.pc.PendingLocalDescription(); pend != nil && c.offerUnsure {
			p.sendOffer(c, pend)
			c.resent = true
		}
	default:
		// have-remote-offer never lasts past one event (we answer at
		// once), so it is an offer we could not answer; have-remote-
		// pranswer is a provisional answer whose final one never came.
		// pion cannot roll back from either: move the call.
		p.renew(c, "stuck in "+c.pc.SignalingState().String())
		return
	}
	p.armRestartTimer(c, restartBackoff.Delay(attempt))
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
