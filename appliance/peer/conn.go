package peer

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Why a customer change needs a new PeerConnection, and what "the same
// peer connection" of the seed becomes here.
//
// A PeerConnection's DTLS association (RFC 5763, RFC 8842) is bound to the
// remote end by the a=fingerprint line of the remote SDP: the browser's
// self-signed certificate hash is checked during the DTLS handshake, and the
// SRTP keys are exported from that one handshake (RFC 5764 §4.2). A second
// browser has a different certificate and would fail the fingerprint check;
// and JSEP (RFC 8829 §5.2.1, RFC 8843) allows no new DTLS handshake with a
// new fingerprint on a live transport, only ICE restarts within it. pion
// follows that: SetRemoteDescription with a changed fingerprint on a
// started DTLS transport is not supported. So one PeerConnection serves one
// browser.
//
// What the seed calls "the peer connection is KEPT ... the same peer
// connection" therefore becomes: the things that were expensive to redo are
// kept (camera, microphone, encoder and the local tracks, which are shared
// by every PeerConnection and never closed here; the socket and room
// membership), and a standby PeerConnection with the tracks attached,
// the heartbeat channel created, the offer applied and ICE gathering
// finished is always waiting. On room:user:joined its complete offer leaves
// at once; the customer change costs one answer and the ICE/DTLS handshake.

type evKind int

const (
	evSignal evKind = iota
	evUserJoined
	evCallEnded
	evSocketReconnected
	evICEServers
	evRestartNow
	evCandidate
	evPCState
	evICEConnected
	evNegotiationNeeded
	evPong
	evRestartTimer
	evGraceTimer
	evSync // closes done once handled (tests)
	evPLI  // RequestCustomerKeyframe
)

// event is one input to the Run goroutine.
type event struct {
	kind    evKind
	connID  uint64
	gen     uint64 // ICE generation of connID when the callback fired
	user    string
	sig     Signal
	servers []webrtc.ICEServer
	cand    *webrtc.ICECandidate
	pcState webrtc.PeerConnectionState
	beat    Beat
	at      time.Time
	timer   uint64
	done    chan struct{}
	hook    func() // evSync: run on the Run goroutine first (tests)
	ssrc    uint32 // evPLI
}

// conn is one PeerConnection: the standby, then one customer's. Fields are
// owned by the Run goroutine unless marked.
type conn struct {
	id  uint64
	gen atomic.Uint64 // ICE generation; read by pion callbacks, bumped by restart
	pc  *webrtc.PeerConnection
	dc  *webrtc.DataChannel

	dcOpen atomic.Bool // set by the data channel's OnOpen

	user      string // customer userId; "" while standby
	gathered  bool   // ICE gathering of the prepared offer completed
	closed    bool
	createdAt time.Time
	joinedAt  time.Time

	// Perfect Negotiation (W3C webrtc-pc §10.7 example), impolite side.
	makingOffer  bool
	ignoreOffer  bool
	pending      []webrtc.ICECandidateInit // remote candidates before a remote description
	refusedCands int                       // remote candidates pion refused in this call
	offerSentAt  time.Time                 // when our last offer left
	// offerUnsure: our pending offer may not have reached the customer
	// (its send failed, our socket reconnected since, or the customer
	// rejoined), so a restart sends it again (restart.go). Otherwise it
	// is on its way and the polite page answers every offer it gets.
	offerUnsure bool
	// resent: the pending offer went again (restart.go); it may have
	// been made while the path was down (no usable candidates, or
	// relay-only with TURN unreachable), so once it is answered the call
	// gets a fresh attempt soon rather than at the next backoff slot.
	resent bool

	pcUp          bool
	connectedOnce bool
	connectedAt   time.Time
	relayOnly     bool
	serversStale  bool      // ICE servers changed but not yet applied (see applyConfig)
	attempts      int       // restart attempts since the last connected
	troubleSince  time.Time // first moment without a path; zero while up
	restarts      uint64

	restartT, graceT         clockwork.Timer
	restartTimer, graceTimer uint64 // tokens of the armed timers

	beat beatState

	// Selected-pair consent (see consent.go).
	consentPair string    // local|remote candidate IDs of the pair watched
	consentResp uint64    // its ResponsesReceived at consentAt
	consentAt   time.Time // when consentResp last grew (injected clock)

	counter     *sendCounter // nil only if pion skipped the interceptor
	lastBytes   uint64
	lastBytesAt time.Time

	wg sync.WaitGroup // RTCP readers of our senders

	// The customer's tracks (onTrack): rmu guards recvDone and the Adds
	// to recv, so that no reader starts after closeConn began waiting.
	rmu      sync.Mutex
	recvDone bool
	recv     sync.WaitGroup
}

func (c *conn) up() bool { return c.pcUp }

// newConn builds a PeerConnection with the local tracks and the heartbeat
// channel, creates and applies its offer, and lets ICE gathering run; the
// offer is sent only when a customer joins. Run goroutine only.
func (p *Peer) newConn() (*conn, error) {
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{
		ICEServers:   p.iceServers,
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	})
	if err != nil {
		return nil, fmt.Errorf("peer: new peer connection: %w", err)
	}
	p.nextConnID++
	c := &conn{id: p.nextConnID, pc: pc, createdAt: p.cfg.Clock.Now(), counter: p.counters.take(pc.ID())}
	fail := func(op string, err error) (*conn, error) {
		p.closeConn(c)
		return nil, fmt.Errorf("peer: %s: %w", op, err)
	}

	// The m-lines, in this order (issue 15: a two-way call whose
	// customer media rides the first answer):
	//
	//	video recvonly, audio recvonly   the customer's camera and microphone
	//	video sendonly, audio sendonly   ours (p.cfg.Tracks), then the heartbeat channel
	//
	// Why not one sendrecv m-line per kind: a page built from the W3C
	// Perfect Negotiation example that adds its tracks at once offers
	// them itself, rolls that offer back on glare, and then its addTrack
	// transceivers are associated with the first m-line of their kind in
	// our offer that can receive (JSEP RFC 8829 §5.10). Chromium (156)
	// leaves such a transceiver non-receptive after the rollback
	// (w3c/webrtc-pc#3081): its receiver track never unmutes though
	// frames are decoded, and nothing we offer later (a re-offer, an ICE
	// restart, a direction change) brings it back. With our camera on
	// that m-line the page shows no picture (issue 11's systest, 3 of 3).
	// So the m-lines that can receive carry nothing of ours: the page's
	// camera and microphone take them (on glare, or by addTrack after our
	// offer, which reuses the first transceiver of its kind), and our
	// media reaches the page on sendonly m-lines that always get fresh
	// receivers. Recvonly first, so that addTrack picks them and not our
	// sendonly ones (their answer could not send there, and the page
	// would need a second offer). A customer who sends nothing answers
	// them inactive. The tracks are shared by every PeerConnection
	// (TrackLocalStatic* fan out to all bindings).
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail("add receiver", err)
		}
	}
	for _, t := range p.cfg.Tracks {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fail("add track", err)
		}
		c.wg.Add(1)
		go p.readRTCP(c, tr.Sender())
	}

	dc, err := pc.CreateDataChannel(HeartbeatChannelLabel, heartbeatChannelInit())
	if err != nil {
		return fail("create heartbeat channel", err)
	}
	c.dc = dc
	p.wireCallbacks(c)

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail("create offer", err)
	}
	c.makingOffer = true
	err = pc.SetLocalDescription(offer) // starts ICE gathering
	c.makingOffer = false
	if err != nil {
		return fail("set local offer", err)
	}
	return c, nil
}

// wireCallbacks connects pion's callbacks to the event queue. Each callback
// only enqueues (never blocks), tagged with the conn id and, where it
// matters, the ICE generation at the time it fired.
func (p *Peer) wireCallbacks(c *conn) {
	id := c.id
	c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		p.enqueue(event{kind: evCandidate, connID: id, gen: c.gen.Load(), cand: cand})
	})
	c.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.enqueue(event{kind: evPCState, connID: id, gen: c.gen.Load(), pcState: s})
	})
	c.pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		// Only "connected" matters here: after an ICE restart on a live
		// path pion may keep the PeerConnection state at "connected"
		// throughout, so the ICE state is what says the restart is done.
		if s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted {
			p.enqueue(event{kind: evICEConnected, connID: id, gen: c.gen.Load()})
		}
	})
	c.pc.OnNegotiationNeeded(func() {
		p.enqueue(event{kind: evNegotiationNeeded, connID: id})
	})
	c.pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		// pion runs this on a goroutine of its own, one per track.
		p.onTrack(c, t, r)
	})
	c.dc.OnOpen(func() { c.dcOpen.Store(true) })
	c.dc.OnClose(func() { c.dcOpen.Store(false) })
	c.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		b, err := DecodeBeat(m.Data)
		if err != nil {
			p.log.Debug("heartbeat", "err", err)
			return
		}
		if b.Type == BeatPing {
			// Echo at once, here, so the customer's RTT does not include
			// our queue.
			b.Type = BeatPong
			_ = c.dc.SendText(string(EncodeBeat(b)))
			return
		}
		p.enqueue(event{kind: evPong, connID: id, beat: b, at: p.cfg.Clock.Now()})
	})
}

// onTrack hands one of the customer's tracks to Config.OnTrack (or reads
// and drops it) and drains its receiver's RTCP (the customer's sender
// reports; reading runs pion's interceptors and keeps its buffer from
// filling). Both end when the PeerConnection closes: ReadRTP and ReadRTCP
// then fail. closeConn waits for them, so a customer who left leaves no
// goroutine behind, Config.OnTrack's included. Runs on pion's goroutine.
func (p *Peer) onTrack(c *conn, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	c.rmu.Lock()
	if c.recvDone {
		c.rmu.Unlock()
		return // closing: the track is already ending
	}
	c.recv.Add(2)
	c.rmu.Unlock()
	p.stats.customerTracks.Add(1)
	p.log.Debug("customer's track", "customer", c.user, "kind", t.Kind().String(), "codec", t.Codec().MimeType, "ssrc", uint32(t.SSRC()))
	go func() {
		defer c.recv.Done()
		for {
			if _, _, err := r.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	defer c.recv.Done()
	if p.cfg.OnTrack != nil {
		p.cfg.OnTrack(t, r)
		return
	}
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// readRTCP reads the customer's RTCP for one sender and turns PLI/FIR into
// keyframe requests. It ends when the PeerConnection closes.
func (p *Peer) readRTCP(c *conn, s *webrtc.RTPSender) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				p.log.Debug("rtcp read", "err", err)
			}
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.requestKeyframe()
			}
		}
	}
}

// closeConn closes c's PeerConnection on a goroutine of its own (a graceful
// close waits up to ~100 ms for the far end's DTLS/SCTP goodbyes, which
// must not delay the next customer's offer); Run waits for all of them
// before it returns. The local tracks are only unbound, never closed. Run
// goroutine only.
func (p *Peer) closeConn(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	c.restartTimer, c.graceTimer = 0, 0
	p.stopTimer(&c.restartT)
	p.stopTimer(&c.graceT)
	p.closers.Add(1)
	go func() {
		defer p.closers.Done()
		if err := c.pc.GracefulClose(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
		c.wg.Wait()
		c.rmu.Lock()
		c.recvDone = true
		c.rmu.Unlock()
		c.recv.Wait()
	}()
}
