package peer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"tether/internal/pionlog"
)

// Peer is the appliance's WebRTC layer. Create it with New, run it with Run;
// the signalling layer feeds it with HandleSignal, UserJoined, CallEnded,
// SocketReconnected and SetICEServers, which only enqueue events.
//
// Channels and queues, all drained by the Run goroutine:
//
//	queue   (events) <- HandleSignal, UserJoined, CallEnded, SocketReconnected,
//	                    SetICEServers, pion callbacks, timers (restartICE: tests)
//	notify  (chan)   <- enqueue, one pending wake-up
//	ticker  (clock)  -> heartbeat and stats every HeartbeatInterval
type Peer struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API
	// counters hands out each PeerConnection's sendCounter.
	counters *counterFactory

	running atomic.Bool
	closers sync.WaitGroup // PeerConnections being closed

	// qmu guards queue and stopped; any goroutine appends, Run drains.
	qmu     sync.Mutex
	queue   []event
	stopped bool // Run has returned: events are dropped
	notify  chan struct{}

	// smu guards snap, the published Stats.
	smu  sync.Mutex
	snap Stats

	// Owned by the Run goroutine.
	ctx        context.Context
	state      State
	active     *conn // the customer's PeerConnection, nil when none
	standby    *conn // prepared in advance for the next customer
	iceServers []webrtc.ICEServer
	early      map[string]*earlySignals // signals from users not in a call yet
	nextConnID uint64
	timerSeq   uint64
	stats      counters

	// hookStandbyReady, if set before Run, is called by the Run goroutine
	// when a standby's gathering completes (tests wait on it).
	hookStandbyReady func()
	// hookPong, if set before Run, is called by the Run goroutine after a
	// heartbeat answer is processed.
	hookPong func()
}

// counters are the Run goroutine's running totals, copied into Stats.
type counters struct {
	transitions     uint64
	entered         [numStates]uint64
	restarts        uint64
	customers       uint64
	ignoredOffers   uint64
	refusedDescs    uint64
	refusedCands    uint64
	renewed         uint64
	droppedCands    uint64
	earlyCands      uint64
	keyframeReqs    atomic.Uint64 // written by RTCP readers
	customerTracks  atomic.Uint64 // written by onTrack (pion goroutines)
	standbyPrepared uint64
	consentLost     uint64
}

// New validates cfg and builds the pion API shared by every PeerConnection.
func New(cfg Config) (*Peer, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "peer")

	se := webrtc.SettingEngine{LoggerFactory: pionlog.New(log)}
	se.SetICETimeouts(cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, cfg.ICEKeepAliveInterval)
	se.SetICEMaxBindingRequests(MaxBindingRequests)
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	// pion's controlling agent waits this long before nominating a relay
	// pair in case a better one succeeds (RFC 8445 §8.1.1 leaves the moment
	// to the controlling agent; pion's default is 2 s). Host pairs succeed
	// within a round trip and srflx pairs keep pion's 500 ms, so 500 ms
	// loses little on a direct path and keeps a relay-only recovery under
	// the 1 s ICE restart goal.
	se.SetRelayAcceptanceMinWait(500 * time.Millisecond)
	if cfg.IncludeLoopback {
		se.SetIncludeLoopbackCandidate(true)
	}
	// No mDNS: the appliance's host candidates are not private to a
	// browser user, and mDNS resolution would add a round trip.
	se.SetICEMulticastDNSMode(0)

	// Only the Run goroutine closes a PeerConnection (closeConn, after it
	// stopped using it). pion would otherwise close it from its own
	// goroutine when the browser's DTLS close_notify arrives (a closed
	// tab), and pion v4.2.26's GetStats reads the receivers' stats getter
	// that close clears without a lock: a data race with the tick's
	// collectStats once the transceivers have receivers (sendrecv, conn.go).
	// A customer who left is noticed as any dead path is (consent.go), and
	// room:user:left ends the call.
	se.DisableCloseByDTLS(true)

	if cfg.tweak != nil {
		cfg.tweak(&se)
	}

	me, reg, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	counters := &counterFactory{byID: map[string]*sendCounter{}}
	reg.Add(counters)

	p := &Peer{
		cfg:        cfg,
		log:        log,
		api:        webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg)),
		notify:     make(chan struct{}, 1),
		iceServers: cfg.ICEServers,
		counters:   counters,
		early:      map[string]*earlySignals{},
	}
	p.snap.State = Idle
	return p, nil
}

// Run owns the layer until ctx ends: it prepares the standby
// PeerConnection, processes events and ticks the heartbeat. On return every
// PeerConnection it made is closed and every goroutine it started has ended.
func (p *Peer) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	p.ctx = ctx
	ticker := p.cfg.Clock.NewTicker(p.cfg.HeartbeatInterval)
	defer ticker.Stop()
	consent := p.cfg.Clock.NewTicker(p.cfg.ICEKeepAliveInterval)
	defer consent.Stop()
	defer p.shutdown()

	p.setState(Waiting, "start")
	p.ensureStandby()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.notify:
			for _, ev := range p.drain() {
				p.handle(ev)
			}
		case <-ticker.Chan():
			p.onTick()
		case <-consent.Chan():
			p.checkConsent()
		}
		p.publish()
	}
}

func (p *Peer) shutdown() {
	if p.active != nil {
		p.closeConn(p.active)
		p.active = nil
	}
	if p.standby != nil {
		p.closeConn(p.standby)
		p.standby = nil
	}
	p.closers.Wait()
	p.setState(Idle, "stop")
	p.publish()
	p.qmu.Lock()
	p.stopped = true
	p.queue = nil
	p.qmu.Unlock()
}

// HandleSignal delivers a `signal` message from the room layer.
func (p *Peer) HandleSignal(from string, s Signal) {
	p.enqueue(event{kind: evSignal, user: from, sig: s})
}

// UserJoined reports `room:user:joined` for a customer: the standby offer
// leaves for userID at once.
func (p *Peer) UserJoined(userID string) { p.enqueue(event{kind: evUserJoined, user: userID}) }

// CallEnded reports `call:ended` (or the customer's `room:user:left`): the
// customer's PeerConnection is closed; local tracks stay untouched. An
// empty userID ends whatever call is active.
func (p *Peer) CallEnded(userID string) { p.enqueue(event{kind: evCallEnded, user: userID}) }

// SocketReconnected reports that the Socket.IO link came back; a peer that
// is not connected restarts ICE at once, and the standby offer is rebuilt
// (the network may have changed under it).
func (p *Peer) SocketReconnected() { p.enqueue(event{kind: evSocketReconnected}) }

// SetICEServers replaces the STUN/TURN servers (a new session:verify
// reply). They apply to the standby at once and to the active
// PeerConnection at its next ICE restart.
func (p *Peer) SetICEServers(servers []webrtc.ICEServer) {
	cp := append([]webrtc.ICEServer(nil), servers...)
	p.enqueue(event{kind: evICEServers, servers: cp})
}

// RequestCustomerKeyframe asks the customer's sender for a keyframe of
// the track with this SSRC: an RTCP PLI (RFC 4585 §6.3.1) on the active
// PeerConnection. The display calls it when it cannot decode until the
// next IDR (issue 15 §4); it never blocks, and without a call it does
// nothing.
func (p *Peer) RequestCustomerKeyframe(ssrc uint32) { p.enqueue(event{kind: evPLI, ssrc: ssrc}) }

// restartICE asks for an ICE restart of the active PeerConnection now.
// Only tests ask: no operator action offers it (the layer restarts ICE by
// itself when a call is in trouble), so it is not exported (issue 13).
func (p *Peer) restartICE() { p.enqueue(event{kind: evRestartNow}) }

func (p *Peer) enqueue(ev event) {
	p.qmu.Lock()
	if p.stopped {
		p.qmu.Unlock() // nobody will handle it (a Ping then times out, as it should)
		return
	}
	p.queue = append(p.queue, ev)
	p.qmu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *Peer) drain() []event {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	q := p.queue
	p.queue = nil
	return q
}

// setState records a transition; Run goroutine only.
func (p *Peer) setState(to State, reason string) {
	from := p.state
	if from == to {
		return
	}
	p.state = to
	p.stats.transitions++
	p.stats.entered[to]++
	p.log.Info("state", "from", from.String(), "to", to.String(), "reason", reason)
	if p.cfg.OnStateChange != nil {
		p.cfg.OnStateChange(from, to)
	}
}

func (p *Peer) handle(ev event) {
	switch ev.kind {
	case evSignal:
		p.onSignal(ev.user, ev.sig)
	case evUserJoined:
		p.onUserJoined(ev.user)
	case evCallEnded:
		p.onCallEnded(ev.user)
	case evSocketReconnected:
		p.onSocketReconnected()
	case evICEServers:
		p.onICEServers(ev.servers)
	case evSync:
		if ev.hook != nil {
			ev.hook()
		}
		p.publish()
		close(ev.done)
	case evRestartNow:
		if c := p.active; c != nil {
			p.restart(c, "requested")
		}
	case evPLI:
		if c := p.active; c != nil {
			if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ev.ssrc}}); err != nil {
				p.log.Debug("keyframe request to the customer", "ssrc", ev.ssrc, "err", err)
			}
		}
	default:
		c := p.connByID(ev.connID)
		if c == nil {
			return // a dropped customer's or replaced standby's late callback
		}
		p.handleConnEvent(c, ev)
	}
}

func (p *Peer) connByID(id uint64) *conn {
	switch {
	case p.active != nil && p.active.id == id:
		return p.active
	case p.standby != nil && p.standby.id == id:
		return p.standby
	}
	return nil
}

func (p *Peer) handleConnEvent(c *conn, ev event) {
	switch ev.kind {
	case evCandidate:
		if ev.gen != c.gen.Load() {
			return // candidate of an ICE generation we restarted away from
		}
		p.onLocalCandidate(c, ev.cand)
	case evPCState:
		if ev.gen != c.gen.Load() {
			return
		}
		p.onPCState(c, ev.pcState)
	case evICEConnected:
		if ev.gen == c.gen.Load() && c == p.active && c.pcUp {
			p.refreshHealth(c, "ice connected")
		}
	case evNegotiationNeeded:
		p.onNegotiationNeeded(c)
	case evPong:
		if c.beat.pong(ev.beat, ev.at) {
			p.refreshHealth(c, "heartbeat answered")
		}
		if p.hookPong != nil {
			p.hookPong()
		}
	case evRestartTimer:
		if ev.timer != c.restartTimer || c != p.active {
			return
		}
		switch {
		case p.healthy(c):
			p.refreshHealth(c, "restart done")
		case p.firstAttemptAlive(c):
			// Look again in a second; pion fails the attempt by itself
			// if it stops hearing the customer.
			p.armRestartTimer(c, p.cfg.ICEKeepAliveInterval)
		default:
			p.restart(c, "backoff")
		}
	case evGraceTimer:
		if ev.timer == c.graceTimer && c == p.active && !p.healthy(c) && p.state != Restarting {
			reason := "disconnected"
			if c.pcUp {
				reason = "heartbeat"
			}
			p.restart(c, reason)
		}
	}
}

func (p *Peer) onUserJoined(user string) {
	if c := p.active; c != nil {
		if c.user == user {
			// The same customer joined again (their socket reconnected
			// within the recovery window, docs/protocol.md): keep the
			// PeerConnection, restart ICE if it is not up. What we sent
			// to their old socket may be lost: an unanswered offer goes
			// again.
			c.offerUnsure = true
			if !c.up() {
				p.restart(c, "customer rejoined")
			}
			return
		}
		// One customer at a time; a new one replaces a stale call.
		p.log.Warn("customer joined while another is active; dropping the old one", "old", c.user, "new", user)
		p.onCallEnded(c.user)
	}
	p.stats.customers++
	if p.startCall(user, "customer joined") {
		p.replayEarly(user)
	}
}

// startCall gives user the standby PeerConnection (or a new one) and sends
// its offer. Run goroutine only.
func (p *Peer) startCall(user, reason string) bool {
	c := p.standby
	p.standby = nil
	if c == nil {
		var err error
		if c, err = p.newConn(); err != nil {
			p.log.Error("customer change: no PeerConnection", "err", err)
			return false
		}
	}
	c.user = user
	c.joinedAt = p.cfg.Clock.Now()
	c.troubleSince = c.joinedAt
	p.active = c
	p.setState(Negotiating, reason)
	// The offer was created and applied in advance (newConn); its SDP
	// already carries every candidate gathered so far.
	p.sendOffer(c, c.pc.LocalDescription())
	if c.gathered {
		p.send(c, Signal{EndOfCandidates: true})
	}
	// First deadline: if nothing connects in RelayFallbackAfter, restart
	// (and, with TURN configured, go relay-only).
	p.armRestartTimer(c, p.cfg.RelayFallbackAfter)
	p.log.Info("offer sent", "customer", user, "prepared", c.gathered)
	return true
}

func (p *Peer) onCallEnded(user string) {
	c := p.active
	if c == nil || (user != "" && c.user != user) {
		return
	}
	p.log.Info("call ended", "customer", c.user)
	p.active = nil
	p.closeConn(c)
	p.setState(Waiting, "call ended")
	p.ensureStandby()
}

func (p *Peer) onSocketReconnected() {
	if c := p.active; c != nil {
		c.offerUnsure = true // it may have gone down with the old socket
		if !c.up() {
			p.restart(c, "socket reconnected")
		}
	}
	p.rebuildStandby("socket reconnected")
}

func (p *Peer) onICEServers(servers []webrtc.ICEServer) {
	p.iceServers = servers
	if c := p.active; c != nil {
		// Used from the next ICE restart on (W3C setConfiguration).
		p.applyConfig(c, false)
	}
	p.rebuildStandby("ice servers changed")
}

func (p *Peer) rebuildStandby(reason string) {
	if p.standby != nil {
		p.log.Debug("rebuilding standby", "reason", reason)
		p.closeConn(p.standby)
		p.standby = nil
	}
	p.ensureStandby()
}

// ensureStandby prepares the next customer's PeerConnection if there is
// none. Run goroutine only.
func (p *Peer) ensureStandby() {
	if p.standby != nil || p.ctx.Err() != nil || p.cfg.disableStandby {
		return
	}
	c, err := p.newConn()
	if err != nil {
		p.log.Error("prepare standby", "err", err) // retried on the next tick
		return
	}
	p.standby = c
	p.stats.standbyPrepared++
}

func (p *Peer) onPCState(c *conn, s webrtc.PeerConnectionState) {
	if c != p.active {
		return
	}
	p.log.Debug("peer connection state", "customer", c.user, "state", s.String())
	switch s {
	case webrtc.PeerConnectionStateConnected:
		wasUp := c.pcUp
		c.pcUp = true
		if !wasUp {
			p.requestKeyframe()
			p.updatePath(c)
			if c.connectedOnce {
				p.pathBack(c)
			}
		}
		p.refreshHealth(c, "connected")
		// The call is up: now prepare the next customer's connection so it
		// does not compete with this one's first handshake.
		p.ensureStandby()
	case webrtc.PeerConnectionStateDisconnected:
		c.pcUp = false
		if c.troubleSince.IsZero() {
			c.troubleSince = p.cfg.Clock.Now()
		}
		if p.state != Restarting {
			p.setState(Degraded, "ice disconnected")
			p.armGraceTimer(c)
		}
	case webrtc.PeerConnectionStateFailed:
		c.pcUp = false
		if c.troubleSince.IsZero() {
			c.troubleSince = p.cfg.Clock.Now()
		}
		// Restart at once, unless a restart is already waiting on its
		// backoff timer (a failed check of the attempt in progress).
		if p.state != Restarting {
			p.restart(c, "ice failed")
		}
	}
}

// healthy: path up and heartbeats answered.
func (p *Peer) healthy(c *conn) bool {
	return c.pcUp && c.beat.missed < p.cfg.HeartbeatMisses
}

// refreshHealth moves between Connected and Degraded from the path and
// heartbeat state. Run goroutine only.
func (p *Peer) refreshHealth(c *conn, reason string) {
	if c != p.active || !c.pcUp {
		return
	}
	if p.healthy(c) {
		if p.state != Connected {
			// Back up: reset the backoff and the TURN fallback clock and
			// disarm pending restart/grace checks.
			recovered := c.attempts > 0
			c.attempts = 0
			c.troubleSince = time.Time{}
			c.restartTimer, c.graceTimer = 0, 0
			p.stopTimer(&c.restartT)
			p.stopTimer(&c.graceT)
			p.setState(Connected, reason)
			if !c.connectedOnce {
				c.connectedOnce = true
				c.connectedAt = p.cfg.Clock.Now()
			} else {
				p.collectStats(c) // publish the figures pathBack cleared
			}
			if recovered {
				// The path had died: the network may have changed (new
				// address, NAT rebinding), so the standby's pre-gathered
				// candidates may be stale. Gather them again.
				p.rebuildStandby("path recovered")
			}
		}
		return
	}
	if p.state == Connected {
		p.setState(Degraded, "heartbeats missed")
		p.armGraceTimer(c)
	}
}

func (p *Peer) onTick() {
	p.expireEarly()
	if s := p.standby; s != nil && p.cfg.Clock.Since(s.createdAt) >= p.cfg.StandbyMaxAge {
		p.rebuildStandby("standby too old")
	}
	if p.standby == nil {
		p.ensureStandby()
	}
	c := p.active
	if c == nil {
		return
	}
	if c.dcOpen.Load() {
		p.sendBeat(c)
		if c.beat.missed >= p.cfg.HeartbeatMisses {
			p.log.Warn("heartbeats missed", "customer", c.user, "missed", c.beat.missed)
			p.refreshHealth(c, "heartbeats missed")
		}
	}
	p.collectStats(c)
}

// pathBack runs when c's path comes back after trouble. Figures measured
// across the outage (a heartbeat that waited in SCTP's queue, the
// receiver's loss over an interval that spans the gap) describe the gap,
// not the path now: they are dropped so health and the LEDs do not read
// "degraded" for a tick after the picture is back, and the next pong and
// receiver report fill them in. The beats missed during the outage said
// nothing the ICE state does not: counting starts afresh, with a ping at
// once rather than at the next tick (up to HeartbeatInterval away) to ask
// whether the data path answers too. Run goroutine only.
func (p *Peer) pathBack(c *conn) {
	c.beat.forgetRTT() // before the ping: its RTT counts
	if c.counter != nil {
		c.counter.fraction.Store(0)
		c.counter.skipReport.Store(true)
	}
	p.sendBeat(c)
	c.beat.missed = 0
}

// sendBeat sends the next heartbeat ping on c. Run goroutine only.
func (p *Peer) sendBeat(c *conn) {
	if !c.dcOpen.Load() {
		return
	}
	seq := c.beat.tick()
	b := Beat{Type: BeatPing, Seq: seq, T: p.cfg.Clock.Now().UnixMilli()}
	if err := c.dc.SendText(string(EncodeBeat(b))); err != nil {
		p.log.Debug("heartbeat send", "err", err)
	}
}

func (p *Peer) requestKeyframe() {
	if p.cfg.KeyframeRequester != nil {
		p.stats.keyframeReqs.Add(1)
		p.cfg.KeyframeRequester()
	}
}

// send delivers a signal to c's customer and says whether the signalling
// layer took it. Run goroutine only.
func (p *Peer) send(c *conn, s Signal) bool {
	if c.user == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.SendTimeout)
	defer cancel()
	if err := p.cfg.Signaller.Send(ctx, c.user, s); err != nil {
		// Not fatal: an offer that did not leave is re-sent by the
		// backoff restart, and the socket layer reports reconnects.
		p.log.Warn("signal send", "customer", c.user, "err", err)
		return false
	}
	return true
}

func (p *Peer) stopTimer(t *clockwork.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
