package peer

import (
	"log/slog"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Perfect Negotiation, impolite side (W3C webrtc-pc §10.7 "Perfect
// Negotiation Example"; docs/protocol.md makes the browser polite).
//
// The appliance must be the impolite peer because pion cannot roll back a
// local offer (pion/webrtc#2133, #2416: SetLocalDescription({type:
// rollback}) in have-local-offer is rejected by checkNextSignalingState), and
// the polite peer is the one that rolls back on glare. In the W3C example
// makingOffer spans the awaits of setLocalDescription; here everything runs
// on the Run goroutine, so makingOffer is only true inside makeOffer and the
// "signalingState != stable" half of the collision test does the work: an
// offer that arrives while ours is unanswered is a collision, and we ignore
// it. The polite browser rolls its offer back, answers ours and fires
// negotiationneeded again, so its change arrives as a fresh offer after.

// onSignal handles one signal from the customer. Run goroutine only.
func (p *Peer) onSignal(from string, s Signal) {
	c := p.active
	if c == nil || c.user != from {
		p.holdEarly(from, s)
		return
	}
	switch {
	case s.Description != nil:
		p.onRemoteDescription(c, *s.Description)
	case s.Candidate != nil:
		p.onRemoteCandidate(c, *s.Candidate)
	case s.EndOfCandidates:
		// RFC 8838 §4 end-of-candidates: pion keeps checking whatever it
		// has, so there is nothing to do beyond noting it.
		p.log.Debug("remote end of candidates", "customer", c.user)
	}
}

func (p *Peer) onRemoteDescription(c *conn, d webrtc.SessionDescription) {
	offerCollision := d.Type == webrtc.SDPTypeOffer &&
		(c.makingOffer || c.pc.SignalingState() != webrtc.SignalingStateStable)
	c.ignoreOffer = offerCollision // polite == false
	if c.ignoreOffer {
		p.stats.ignoredOffers++
		p.log.Info("glare: ignoring the customer's offer (we are impolite)", "customer", c.user,
			"signaling", c.pc.SignalingState().String())
		return
	}
	if err := c.pc.SetRemoteDescription(d); err != nil {
		p.refuse(c, d, "set remote description", err)
		// Most refusals come before pion changes anything, and the call
		// goes on as if the description never came (our restart timer
		// re-sends an unanswered offer). Some come after the offer is
		// applied (a media section without a mid, codecs pion cannot
		// match): then the PeerConnection is stuck, as below.
		if c.pc.SignalingState() == webrtc.SignalingStateHaveRemoteOffer {
			p.renew(c, "offer could not be applied")
		}
		return
	}
	p.flushPending(c)
	if d.Type != webrtc.SDPTypeOffer {
		if c.resent && p.state == Restarting {
			// The answer to an offer re-sent after our socket came back
			// (or the customer rejoined). That offer was made during the
			// outage: after a link cut it carried no candidate that
			// works now (the address was gone, TURN unreachable), and
			// the next backoff slot was up to 8 s away: frames 8.2 s
			// after a 30 s cut (tether-bench, 2026-12-03). Look again in
			// one check interval, as for a slow first attempt; a restart
			// from stable then gathers on the path that is back.
			p.armRestartTimer(c, p.cfg.ICEKeepAliveInterval)
		}
		c.resent = false
		return
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(answer)
	}
	if err != nil {
		// The offer is applied and cannot be answered: pion can roll back
		// neither a remote offer nor a local one (checkNextSignalingState
		// allows no rollback), so this PeerConnection is stuck in
		// have-remote-offer. The call moves to a fresh one.
		p.refuse(c, d, "answer", err)
		p.renew(c, "offer could not be answered")
		return
	}
	p.send(c, Signal{Description: c.pc.LocalDescription()})
}

// refuse logs and counts a description of the customer's that could not be
// used. Run goroutine only.
func (p *Peer) refuse(c *conn, d webrtc.SessionDescription, op string, err error) {
	p.stats.refusedDescs++
	p.log.Warn("customer's description refused", "customer", c.user, "type", d.Type.String(),
		"op", op, "signaling", c.pc.SignalingState().String(), "sdp_bytes", len(d.SDP), "err", err)
}

// renew moves the call with c's customer to a fresh PeerConnection (the
// standby if one is ready) and sends its offer, when c can no longer
// negotiate: it is left in have-remote-offer or have-remote-pranswer, from
// which pion has no way back. The polite browser takes the new offer like
// any other: it rolls its own pending offer back and answers; the new
// DTLS fingerprint and ICE credentials make it a new transport. Run
// goroutine only.
func (p *Peer) renew(c *conn, reason string) {
	if c != p.active {
		return
	}
	p.log.Warn("negotiation dead end: the call moves to a fresh PeerConnection", "customer", c.user,
		"signaling", c.pc.SignalingState().String(), "reason", reason)
	p.stats.renewed++
	user := c.user
	p.active = nil
	p.closeConn(c)
	p.startCall(user, "renewed: "+reason)
}

func (p *Peer) onRemoteCandidate(c *conn, cand webrtc.ICECandidateInit) {
	if c.ignoreOffer || c.pc.RemoteDescription() == nil {
		// Early (signalling overtook the description; pion's own
		// OnICECandidate can even fire before the answer is sent), or
		// arriving after an offer we ignored, when it may belong to that
		// offer or to the answer still on its way. Hold it until the next
		// remote description is applied; flushPending then keeps it only
		// if its ICE generation matches.
		c.pending = append(c.pending, cand)
		p.stats.earlyCands++
		return
	}
	p.addRemoteCandidate(c, cand)
}

// flushPending adds the held candidates after a remote description was
// applied, dropping those of another ICE generation: the candidates of an
// ignored offer (W3C addIceCandidate rejects a ufrag that no applied
// remote description carries).
func (p *Peer) flushPending(c *conn) {
	ufrags := sdpUfrags(c.pc.RemoteDescription())
	for _, cand := range c.pending {
		if u := candidateUfrag(cand); u != "" && !ufrags[u] {
			p.stats.droppedCands++
			continue
		}
		p.addRemoteCandidate(c, cand)
	}
	c.pending = nil
}

func (p *Peer) addRemoteCandidate(c *conn, cand webrtc.ICECandidateInit) {
	if err := c.pc.AddICECandidate(cand); err != nil {
		// Counted; logged at Warn once per call and at Debug after, so
		// a page that floods garbage cannot flood the log.
		p.stats.refusedCands++
		c.refusedCands++
		level := slog.LevelDebug
		if c.refusedCands == 1 {
			level = slog.LevelWarn
		}
		p.log.Log(p.ctx, level, "customer's candidate refused", "customer", c.user, "n", c.refusedCands, "err", err)
	}
}

// candidateUfrag returns the ICE username fragment a candidate names
// (usernameFragment, or the "ufrag" extension of RFC 8839 §5.1 candidate
// syntax), or "" if it names none.
func candidateUfrag(c webrtc.ICECandidateInit) string {
	if c.UsernameFragment != nil && *c.UsernameFragment != "" {
		return *c.UsernameFragment
	}
	f := strings.Fields(c.Candidate)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}

// sdpUfrags returns the a=ice-ufrag values of a description (RFC 8839 §5.4).
func sdpUfrags(d *webrtc.SessionDescription) map[string]bool {
	out := map[string]bool{}
	if d == nil {
		return out
	}
	for _, line := range strings.Split(d.SDP, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			out[u] = true
		}
	}
	return out
}

// onLocalCandidate trickles a local candidate to the customer; nil means
// gathering completed. Run goroutine only.
func (p *Peer) onLocalCandidate(c *conn, cand *webrtc.ICECandidate) {
	if cand == nil {
		c.gathered = true
		if c == p.standby && p.hookStandbyReady != nil {
			p.hookStandbyReady()
		}
		if c.user != "" {
			p.send(c, Signal{EndOfCandidates: true})
		}
		return
	}
	if c.user == "" {
		return // standby: the candidate is in the offer's SDP when it leaves
	}
	init := cand.ToJSON()
	p.send(c, Signal{Candidate: &init})
}

// onNegotiationNeeded: W3C "negotiationneeded" -> makingOffer, send offer.
func (p *Peer) onNegotiationNeeded(c *conn) {
	if c != p.active || c.pc.SignalingState() != webrtc.SignalingStateStable || c.pc.RemoteDescription() == nil {
		// The standby's offer is made by newConn; an unanswered offer is
		// re-sent by the restart path; pion fires again once stable.
		return
	}
	p.makeOffer(c, false)
}

// makeOffer creates, applies and sends an offer; iceRestart asks for new
// ICE credentials (RFC 8445 §9, JSEP §5.2.1 IceRestart).
func (p *Peer) makeOffer(c *conn, iceRestart bool) {
	c.makingOffer = true
	defer func() { c.makingOffer = false }()
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		p.log.Warn("create offer", "customer", c.user, "restart", iceRestart, "err", err)
		return
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		p.log.Warn("set local offer", "customer", c.user, "err", err)
		return
	}
	p.sendOffer(c, c.pc.LocalDescription())
}

// sendOffer sends an offer of ours to c's customer and notes whether it
// surely left (restart.go re-sends it only if not). Run goroutine only.
func (p *Peer) sendOffer(c *conn, offer *webrtc.SessionDescription) {
	c.offerSentAt = p.cfg.Clock.Now()
	c.resent = false // restart.go sets it again for a re-send
	c.offerUnsure = !p.send(c, Signal{Description: offer})
}

// Signals from a user who is not (yet) in the call are kept for a while:
// a customer page may start negotiating (its own offer and candidates, the
// glare case) before room:user:joined reaches us, and those candidates are
// needed if the page keeps its ICE credentials when it rolls back. They are
// replayed in order on UserJoined and dropped after earlyTTL.
const (
	earlyTTL      = 30 * time.Second
	earlyPerUser  = 256
	earlyMaxUsers = 4
)

type earlySignals struct {
	first time.Time
	sigs  []Signal
}

func (p *Peer) holdEarly(from string, s Signal) {
	e := p.early[from]
	if e == nil {
		if len(p.early) >= earlyMaxUsers {
			p.log.Debug("signal from someone not in a call dropped", "from", from)
			return
		}
		e = &earlySignals{first: p.cfg.Clock.Now()}
		p.early[from] = e
	}
	if len(e.sigs) < earlyPerUser {
		e.sigs = append(e.sigs, s)
	}
}

// replayEarly feeds user's held signals to the new call. Run goroutine only.
func (p *Peer) replayEarly(user string) {
	e := p.early[user]
	delete(p.early, user)
	if e == nil {
		return
	}
	p.log.Debug("replaying signals that came before room:user:joined", "customer", user, "n", len(e.sigs))
	for _, s := range e.sigs {
		p.onSignal(user, s)
	}
}

// expireEarly drops held signals older than earlyTTL. Run goroutine only.
func (p *Peer) expireEarly() {
	for u, e := range p.early {
		if p.cfg.Clock.Since(e.first) >= earlyTTL {
			delete(p.early, u)
		}
	}
}
