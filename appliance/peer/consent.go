package peer

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// Selected-pair consent, per pair (RFC 7675 §5.1: consent is granted by
// responses to checks on the pair in use).
//
// pion's ICE agent (ice v4.4.8) decides "disconnected" from the selected
// pair's remote candidate's last-received time, and a remote candidate is
// "seen" whatever local candidate the packet arrived on. When both ends
// also hold TURN relay candidates, a customer's checks that reach the
// appliance through the relay keep a dead host-to-host pair looking alive:
// seen in the namespace system test, where cutting the path between the
// ends left pion "connected" while media went nowhere until the 5 s
// heartbeat noticed 10 s later. So the Peer also watches the selected
// pair's own ResponsesReceived (pion counts a response only on the pair
// whose check it answers): when it has not grown for
// ICEDisconnectedTimeout+ICEKeepAliveInterval (2.5 s: two consent checks
// unanswered), the pair is treated as disconnected — Degraded, then the
// grace, then an ICE restart — even while pion still says connected; when
// the silence is already as long as disconnected plus grace (3 s), the
// restart is immediate.
//
// The decision needs both clocks to agree: the injected one (this
// package's timers) and pion's own timestamp of the pair's last response
// (pion's checks run on the real clock), so a test that moves a mock clock
// forward in one jump does not see silence that never happened.

// checkConsent runs every ICEKeepAliveInterval. Run goroutine only.
func (p *Peer) checkConsent() {
	c := p.active
	// While pion says the path is down its own timers are at work. The
	// record is kept across that: if pion then calls the same silent pair
	// connected again (as in the case above), the silence has already
	// lasted and the next tick acts on it.
	if c == nil || c.closed || c.pc == nil || !c.pcUp {
		return
	}
	sctp := c.pc.SCTP()
	if sctp == nil {
		return
	}
	dtls := sctp.Transport()
	if dtls == nil {
		return
	}
	ice := dtls.ICETransport()
	if ice == nil {
		return
	}
	st, ok := ice.GetSelectedCandidatePairStats()
	if !ok {
		return
	}
	now := p.cfg.Clock.Now()
	key := st.LocalCandidateID + "|" + st.RemoteCandidateID
	if key != c.consentPair || st.ResponsesReceived != c.consentResp {
		c.consentPair, c.consentResp, c.consentAt = key, st.ResponsesReceived, now
		return
	}
	limit := p.cfg.ICEDisconnectedTimeout + p.cfg.ICEKeepAliveInterval
	if now.Sub(c.consentAt) < limit {
		return
	}
	last, found := p.lastPairResponse(c, st.LocalCandidateID, st.RemoteCandidateID)
	silent := time.Since(last)
	if !found || silent < limit {
		return
	}
	p.log.Warn("selected pair unanswered", "customer", c.user, "for", silent.Round(time.Millisecond),
		"local", st.LocalCandidateID, "remote", st.RemoteCandidateID)
	p.stats.consentLost++
	c.consentAt = now // once per silence, not every tick
	c.pcUp = false
	if c.troubleSince.IsZero() {
		c.troubleSince = now
	}
	switch {
	case p.state == Restarting:
	case silent >= p.cfg.ICEDisconnectedTimeout+p.cfg.DisconnectedGrace:
		// Silent for as long as a disconnected path plus its grace: the
		// usual restart point (restart.go) has already passed.
		p.restart(c, "selected pair unanswered")
	default:
		p.setState(Degraded, "selected pair unanswered")
		p.armGraceTimer(c)
	}
}

// lastPairResponse is pion's time of the last check response on the pair
// (from GetStats: the selected-pair shortcut leaves it out).
func (p *Peer) lastPairResponse(c *conn, local, remote string) (time.Time, bool) {
	for _, s := range c.pc.GetStats() {
		if cp, ok := s.(webrtc.ICECandidatePairStats); ok && cp.LocalCandidateID == local && cp.RemoteCandidateID == remote {
			return cp.LastResponseTimestamp.Time(), true
		}
	}
	return time.Time{}, false
}

// firstAttemptAlive: the call has never connected, its first ICE
// generation is at work (checking, or connected with DTLS under way) and
// hears the customer (a check request or response on some pair), and it
// started less than ICEDisconnectedTimeout+ICEFailedTimeout ago (when
// pion fails an agent still checking). Then the first deadline
// (RelayFallbackAfter) does not restart ICE: the attempt is slow (a
// loaded page or appliance), not dead. And an ICE restart then would
// break it for good with a Chromium page that rolled its own offer back
// on glare: Chromium 156 answers the restart with new credentials but
// keeps checking with its previous ones, one generation behind at every
// later restart too ("Discard request with wrong username", expected
// ufrag ELCG, got T6K1), and the call never connects (issue 11's
// at-once failures: no picture, answers:5). A dead path (nothing heard:
// no route, UDP blocked before a TURN server came) still restarts at the
// deadline. Run goroutine only.
func (p *Peer) firstAttemptAlive(c *conn) bool {
	if c.connectedOnce || c.restarts > 0 ||
		p.cfg.Clock.Since(c.joinedAt) >= p.cfg.ICEDisconnectedTimeout+p.cfg.ICEFailedTimeout {
		return false
	}
	switch c.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateChecking, webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
	default:
		return false
	}
	for _, s := range c.pc.GetStats() {
		if ps, ok := s.(webrtc.ICECandidatePairStats); ok && (ps.RequestsReceived > 0 || ps.ResponsesReceived > 0) {
			return true
		}
	}
	return false
}
