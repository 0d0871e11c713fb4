package peer

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/logging"
	"github.com/pion/rtp/codecs"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"tether/internal/pionlog"
	"tether/internal/testenv"
)

// Test harness: one appliance Peer and polite "customer" peers, all pion,
// on a pion vnet WAN, with a fake signaller in between.

const (
	applianceIP = "1.2.3.4"
	customerIP  = "1.2.3.5"
	reboundIP   = "1.2.3.6"
	turnIP      = "1.2.3.10"
	waitLimit   = 20 * time.Second
)

// network is a vnet WAN with the appliance and customers on it. Every
// chunk passes drop(); tests flip the filters.
type network struct {
	wan       *vnet.Router
	appNet    *vnet.Net
	custNet   *vnet.Net
	dropAll   atomic.Bool
	dropPeers atomic.Bool // appliance <-> customer direct only (TURN still reachable)
	dropTURN  atomic.Bool
	// dropToCustomer: appliance -> customer only (the customer's checks
	// arrive, the appliance's answers to them do not).
	dropToCustomer atomic.Bool
}

func newNetwork(tb testing.TB) *network {
	tb.Helper()
	n := &network{}
	var err error
	n.wan, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	must(tb, err)
	n.appNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{applianceIP}})
	must(tb, err)
	must(tb, n.wan.AddNet(n.appNet))
	n.custNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{customerIP}})
	must(tb, err)
	must(tb, n.wan.AddNet(n.custNet))
	n.wan.AddChunkFilter(func(c vnet.Chunk) bool {
		if n.dropAll.Load() {
			return false
		}
		src, dst := hostOf(c.SourceAddr()), hostOf(c.DestinationAddr())
		if n.dropPeers.Load() && src != turnIP && dst != turnIP {
			return false
		}
		if n.dropTURN.Load() && (src == turnIP || dst == turnIP) {
			return false
		}
		if n.dropToCustomer.Load() && src == applianceIP && dst == customerIP {
			return false
		}
		return true
	})
	must(tb, n.wan.Start())
	tb.Cleanup(func() { _ = n.wan.Stop() })
	return n
}

func hostOf(a net.Addr) string {
	h, _, _ := net.SplitHostPort(a.String())
	return h
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// testTrack is a VP8 camera stand-in: it plays testdata/testsrc-160x120.ivf
// (25 frames of ffmpeg's testsrc, libvpx, one keyframe at the start) in a
// loop at 25 fps, and jumps back to the keyframe when asked (the
// KeyframeRequester), as an encoder would emit an IDR.
type testTrack struct {
	track   *webrtc.TrackLocalStaticSample
	frames  [][]byte
	wantKey atomic.Bool
	stop    chan struct{}
	done    chan struct{}
}

const testFrameInterval = 40 * time.Millisecond

func loadIVF(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/testsrc-160x120.ivf")
	must(tb, err)
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	must(tb, err)
	var frames [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		must(tb, err)
		frames = append(frames, frame)
	}
	if len(frames) == 0 || frames[0][0]&1 != 0 {
		tb.Fatal("test clip must start with a VP8 keyframe")
	}
	return frames
}

func newTestTrack(tb testing.TB) *testTrack {
	tb.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "tether")
	must(tb, err)
	t := &testTrack{track: tr, frames: loadIVF(tb), stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	tb.Cleanup(t.close)
	return t
}

func (t *testTrack) run() {
	defer close(t.done)
	tick := time.NewTicker(testFrameInterval)
	defer tick.Stop()
	for n := 0; ; n = (n + 1) % len(t.frames) {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		if t.wantKey.Swap(false) {
			n = 0
		}
		_ = t.track.WriteSample(media.Sample{Data: t.frames[n], Duration: testFrameInterval})
	}
}

func (t *testTrack) close() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
}

// hub is the fake signalling server: it routes the appliance's signals to
// customers by userId and customers' signals to the appliance. With hold
// set, messages wait in order until release (to force glare).
type hub struct {
	mu        sync.Mutex
	app       *Peer
	customers map[string]*customer
	sinks     map[string]func(Signal) // other customers (Chromium)
	hold      bool
	held      []func()
	// holdFromCustomer keeps only customer -> appliance messages, with
	// their signals, for reordering.
	holdFromCustomer bool
	heldFromCust     []Signal
	heldAnswer       chan struct{}
	sent             atomic.Int64
	// lastOffer is when the appliance last sent an offer (UnixNano).
	lastOffer atomic.Int64
	// heldOffers gets a token for each offer put on hold.
	heldOffers chan struct{}
	// failSends makes the appliance's sends fail (its socket is down).
	failSends atomic.Bool
	// loseSends takes the appliance's sends and drops them: a socket
	// that has not yet noticed its dead path.
	loseSends atomic.Bool
}

func newHub() *hub {
	return &hub{customers: map[string]*customer{}, sinks: map[string]func(Signal){}, heldOffers: make(chan struct{}, 16), heldAnswer: make(chan struct{}, 4)}
}

func (h *hub) signaller() Signaller {
	return SignallerFunc(func(_ context.Context, to string, s Signal) error {
		if h.failSends.Load() {
			return errors.New("socket down")
		}
		h.sent.Add(1)
		if s.Description != nil && s.Description.Type == webrtc.SDPTypeOffer {
			h.lastOffer.Store(time.Now().UnixNano())
		}
		if h.loseSends.Load() {
			return nil
		}
		h.deliver(s, func() {
			h.mu.Lock()
			c, sink := h.customers[to], h.sinks[to]
			h.mu.Unlock()
			switch {
			case c != nil:
				c.inbox(s)
			case sink != nil:
				sink(s)
			}
		})
		return nil
	})
}

func (h *hub) fromCustomer(from string, s Signal) {
	h.mu.Lock()
	if h.holdFromCustomer {
		h.heldFromCust = append(h.heldFromCust, s)
		h.mu.Unlock()
		if s.EndOfCandidates {
			h.heldAnswer <- struct{}{}
		}
		return
	}
	h.mu.Unlock()
	h.deliver(s, func() { h.app.HandleSignal(from, s) })
}

// releaseCandidatesFirst delivers the held customer messages with every
// candidate ahead of the descriptions: the worst reordering signalling can do.
func (h *hub) releaseCandidatesFirst(from string) {
	h.mu.Lock()
	held := h.heldFromCust
	h.heldFromCust, h.holdFromCustomer = nil, false
	h.mu.Unlock()
	for _, s := range held {
		if s.Description == nil {
			h.app.HandleSignal(from, s)
		}
	}
	for _, s := range held {
		if s.Description != nil {
			h.app.HandleSignal(from, s)
		}
	}
}

func (h *hub) deliver(s Signal, f func()) {
	h.mu.Lock()
	if h.hold {
		h.held = append(h.held, f)
		h.mu.Unlock()
		if s.Description != nil && s.Description.Type == webrtc.SDPTypeOffer {
			h.heldOffers <- struct{}{}
		}
		return
	}
	h.mu.Unlock()
	f()
}

func (h *hub) setHold(on bool) {
	h.mu.Lock()
	h.hold = on
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// harness is an appliance on the vnet with its track, hub and state feed.
type harness struct {
	tb     testing.TB
	net    *network
	track  *testTrack
	hub    *hub
	peer   *Peer
	clock  clockwork.Clock
	states chan State
	keyReq chan struct{}
	// standbyReady gets a token each time a standby's gathering completes.
	standbyReady chan struct{}
	cancel       context.CancelFunc
	done         chan error
}

type harnessOption func(*Config)

func newHarness(tb testing.TB, clk clockwork.Clock, opts ...harnessOption) *harness {
	tb.Helper()
	r := &harness{tb: tb, net: newNetwork(tb), track: newTestTrack(tb), hub: newHub(), clock: clk, states: make(chan State, 4096), keyReq: make(chan struct{}, 1)}
	cfg := Config{
		Tracks:    []webrtc.TrackLocal{r.track.track},
		Signaller: r.hub.signaller(),
		KeyframeRequester: func() {
			r.track.wantKey.Store(true)
			select {
			case r.keyReq <- struct{}{}:
			default:
			}
		},
		OnStateChange: func(_, to State) {
			select {
			case r.states <- to:
			default:
			}
		},
		Clock:  clk,
		Logger: testenv.Logger(),
		Net:    r.net.appNet,
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	must(tb, err)
	r.peer = p
	r.hub.app = p
	r.standbyReady = make(chan struct{}, 1)
	p.hookStandbyReady = r.onStandbyReady
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan error, 1)
	go func() { r.done <- p.Run(ctx) }()
	tb.Cleanup(r.stop)
	return r
}

func (r *harness) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		r.tb.Errorf("Run: %v", err)
	}
}

// waitState reads the state feed until want appears.
func (r *harness) waitState(want State) {
	r.tb.Helper()
	if !r.waitStateFor(want, waitLimit) {
		r.tb.Fatalf("state %s not reached; now %s; stats %+v", want, r.peer.State(), r.peer.Stats())
	}
}

// waitStateFor reads the state feed until want appears or limit passes.
func (r *harness) waitStateFor(want State, limit time.Duration) bool {
	r.tb.Helper()
	deadline := time.After(limit)
	for {
		select {
		case s := <-r.states:
			if s == want {
				// The callback runs inside the transition; let the Run
				// goroutine finish that event (it may arm a timer the
				// test is about to fire with the mock clock).
				r.syncStats()
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// onLoop runs f on the Run goroutine, after everything queued so far.
func (r *harness) onLoop(f func()) {
	r.tb.Helper()
	done := make(chan struct{})
	r.peer.enqueue(event{kind: evSync, done: done, hook: f})
	select {
	case <-done:
	case <-time.After(waitLimit):
		r.tb.Fatal("Run goroutine stuck")
	}
}

// waitStandby waits until the current standby's offer is complete.
func (r *harness) waitStandby() {
	r.tb.Helper()
	deadline := time.After(waitLimit)
	for !r.syncStats().StandbyReady {
		select {
		case <-r.standbyReady:
		case <-deadline:
			r.tb.Fatal("standby never ready")
		}
	}
}

func (r *harness) onStandbyReady() {
	select {
	case r.standbyReady <- struct{}{}:
	default:
	}
}

// join brings a new customer in and sends room:user:joined.
func (r *harness) join(id string) *customer {
	r.tb.Helper()
	c := newCustomer(r.tb, id, r.net.custNet, r.hub)
	r.peer.UserJoined(id)
	return c
}

// customer is a small polite peer following the W3C Perfect Negotiation
// example. pion cannot roll back a local offer (pion/webrtc#2133), so this
// browser stand-in keeps its own offer un-applied until the answer comes
// (CreateOffer, send, and SetLocalDescription only just before
// SetRemoteDescription(answer)); "rollback" on glare is then dropping the
// un-applied offer, which leaves pion's state exactly where a browser's
// rollback would. Its change stays wanted and is offered again once stable,
// as a browser's negotiationneeded would fire again.
type customer struct {
	tb  testing.TB
	id  string
	pc  *webrtc.PeerConnection
	hub *hub

	mu      sync.Mutex
	queue   []func()
	notify  chan struct{}
	stop    chan struct{}
	done    chan struct{}
	readers sync.WaitGroup

	// owned by the customer goroutine
	pendingOffer *webrtc.SessionDescription
	wantOffer    bool
	pendingCands []webrtc.ICECandidateInit
	rollbacks    int

	noEcho     atomic.Bool
	allowOffer atomic.Bool
	frames     atomic.Int64
	keyframes  atomic.Int64
	frameCh    chan struct{}
	firstFrame chan struct{}
	firstOnce  sync.Once
	connected  chan struct{} // closed when the customer's PeerConnection is connected
	connOnce   sync.Once
	gotTrack   chan *webrtc.TrackRemote
	answers    atomic.Int64
}

func newCustomer(tb testing.TB, id string, vn *vnet.Net, h *hub) *customer {
	tb.Helper()
	return newCustomerWith(tb, id, func(se *webrtc.SettingEngine) { se.SetNet(vn) }, h)
}

func newCustomerWith(tb testing.TB, id string, netSetup func(*webrtc.SettingEngine), h *hub) *customer {
	tb.Helper()
	se := webrtc.SettingEngine{}
	netSetup(&se)
	se.SetICETimeouts(DefaultICEDisconnected, DefaultICEFailed, DefaultICEKeepAlive)
	se.SetICEMulticastDNSMode(0)
	se.LoggerFactory = pionlog.New(testenv.Logger().With("component", "customer"))
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	must(tb, err)
	c := &customer{
		tb: tb, id: id, pc: pc, hub: h,
		notify: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		frameCh: make(chan struct{}, 1), firstFrame: make(chan struct{}), connected: make(chan struct{}), gotTrack: make(chan *webrtc.TrackRemote, 4),
	}
	dc, err := pc.CreateDataChannel(HeartbeatChannelLabel, heartbeatChannelInit())
	must(tb, err)
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			return // a browser page would get an ArrayBuffer it cannot JSON.parse
		}
		b, err := DecodeBeat(m.Data)
		if err != nil || b.Type != BeatPing || c.noEcho.Load() {
			return
		}
		b.Type = BeatPong
		_ = dc.SendText(string(EncodeBeat(b)))
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			c.connOnce.Do(func() { close(c.connected) })
		}
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			h.fromCustomer(id, Signal{EndOfCandidates: true})
			return
		}
		init := cand.ToJSON()
		h.fromCustomer(id, Signal{Candidate: &init})
	})
	// Offers only once the test adds a track: pion also fires for the
	// negotiated data channel before the appliance's offer arrives, and
	// that stale event would start a pointless renegotiation.
	pc.OnNegotiationNeeded(func() {
		if c.allowOffer.Load() {
			c.post(func() { c.wantOffer = true; c.maybeOffer() })
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case c.gotTrack <- t:
		default:
		}
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			c.readVideo(t)
		} else {
			_, _ = io.Copy(io.Discard, rtpReader{t})
		}
	})
	h.mu.Lock()
	h.customers[id] = c
	h.mu.Unlock()
	go c.loop()
	return c
}

type rtpReader struct{ t *webrtc.TrackRemote }

func (r rtpReader) Read(b []byte) (int, error) { n, _, err := r.t.Read(b); return n, err }

// readVideo reassembles VP8 frames (RFC 7741 §4: a frame starts with the
// S bit on partition 0 and ends at the RTP marker) and counts them, the way
// a decoder gets them: complete at the marker, with no jitter-buffer delay.
// A sequence gap discards the frame in progress.
func (c *customer) readVideo(t *webrtc.TrackRemote) {
	var (
		frame   []byte
		inFrame bool
		lastSeq uint16
		haveSeq bool
		vp8     codecs.VP8Packet
	)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if haveSeq && pkt.SequenceNumber != lastSeq+1 {
			inFrame = false
		}
		lastSeq, haveSeq = pkt.SequenceNumber, true
		payload, err := vp8.Unmarshal(pkt.Payload)
		if err != nil {
			inFrame = false
			continue
		}
		if vp8.S == 1 && vp8.PID == 0 {
			frame, inFrame = frame[:0], true
		}
		if !inFrame {
			continue
		}
		frame = append(frame, payload...)
		if !pkt.Marker {
			continue
		}
		inFrame = false
		if len(frame) > 0 && frame[0]&1 == 0 {
			c.keyframes.Add(1)
			c.firstOnce.Do(func() { close(c.firstFrame) })
		}
		if c.keyframes.Load() > 0 {
			c.frames.Add(1)
			select {
			case c.frameCh <- struct{}{}:
			default:
			}
		}
	}
}

func (c *customer) inbox(s Signal) { c.post(func() { c.onSignal(s) }) }

func (c *customer) post(f func()) {
	c.mu.Lock()
	c.queue = append(c.queue, f)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *customer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.notify:
		}
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, f := range q {
			f()
		}
	}
}

func (c *customer) send(s Signal) { c.hub.fromCustomer(c.id, s) }

// maybeOffer is the polite side's negotiationneeded handler.
func (c *customer) maybeOffer() {
	if !c.wantOffer || c.pendingOffer != nil || c.pc.SignalingState() != webrtc.SignalingStateStable || c.pc.RemoteDescription() == nil {
		return
	}
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.tb.Errorf("customer create offer: %v", err)
		return
	}
	c.wantOffer = false
	c.pendingOffer = &offer
	c.send(Signal{Description: &offer})
}

func (c *customer) onSignal(s Signal) {
	switch {
	case s.Description != nil:
		d := *s.Description
		collision := d.Type == webrtc.SDPTypeOffer && (c.pendingOffer != nil || c.pc.SignalingState() != webrtc.SignalingStateStable)
		if collision {
			// Polite: roll back our offer and take theirs. Our change is
			// still needed, so pion fires negotiationneeded again once
			// the answer leaves us stable, as a browser would.
			c.rollbacks++
			c.pendingOffer = nil
		}
		if d.Type == webrtc.SDPTypeOffer {
			c.wantOffer = false // re-raised by negotiationneeded if still needed
		}
		if d.Type == webrtc.SDPTypeAnswer {
			if c.pendingOffer == nil {
				c.tb.Errorf("customer: answer without an offer")
				return
			}
			if err := c.pc.SetLocalDescription(*c.pendingOffer); err != nil {
				c.tb.Errorf("customer apply offer: %v", err)
				return
			}
			c.pendingOffer = nil
		}
		if err := c.pc.SetRemoteDescription(d); err != nil {
			c.tb.Errorf("customer set remote %s: %v", d.Type, err)
			return
		}
		for _, cand := range c.pendingCands {
			_ = c.pc.AddICECandidate(cand)
		}
		c.pendingCands = nil
		if d.Type == webrtc.SDPTypeOffer {
			answer, err := c.pc.CreateAnswer(nil)
			if err != nil {
				c.tb.Errorf("customer answer: %v", err)
				return
			}
			if err := c.pc.SetLocalDescription(answer); err != nil {
				c.tb.Errorf("customer set answer: %v", err)
				return
			}
			c.answers.Add(1)
			c.send(Signal{Description: c.pc.LocalDescription()})
		}
		c.maybeOffer()
	case s.Candidate != nil:
		if c.pc.RemoteDescription() == nil {
			c.pendingCands = append(c.pendingCands, *s.Candidate)
			return
		}
		_ = c.pc.AddICECandidate(*s.Candidate)
	}
}

// addAudio adds a microphone track: before the appliance's offer it rides
// the answer (on the offer's recvonly audio m-line), after it the
// customer offers it.
func (c *customer) addAudio() *webrtc.TrackLocalStaticSample {
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", "customer")
	must(c.tb, err)
	c.allowOffer.Store(true)
	done := make(chan struct{})
	c.post(func() {
		defer close(done)
		if _, err := c.pc.AddTrack(tr); err != nil {
			c.tb.Errorf("customer add track: %v", err)
		}
		// pion may not fire negotiationneeded here: it fired already
		// (ignored, allowOffer unset) after answering the appliance's
		// recvonly m-lines with nothing to send, and its flag stays set
		// until the next negotiation. A browser fires on addTrack.
		if c.pc.RemoteDescription() != nil {
			c.wantOffer = true
			c.maybeOffer()
		}
	})
	<-done
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		writeSilence(tr, c.stop)
	}()
	return tr
}

// withSilentMic adds a microphone track playing Opus silence, so the
// appliance offers an audio m-line beside the video one, as tetherd does.
func withSilentMic(tb testing.TB) harnessOption {
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "tether")
	must(tb, err)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); writeSilence(tr, stop) }()
	tb.Cleanup(func() { close(stop); <-done })
	return func(c *Config) { c.Tracks = append(c.Tracks, tr) }
}

// writeSilence plays Opus silence (one 20 ms frame, RFC 6716 §3.1 TOC 0xfc)
// on tr until stop is closed: a microphone stand-in.
func writeSilence(tr *webrtc.TrackLocalStaticSample, stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			_ = tr.WriteSample(media.Sample{Data: []byte{0xfc, 0xff, 0xfe}, Duration: 20 * time.Millisecond})
		}
	}
}

// waitFrames waits until n more frames than now have been assembled.
func (c *customer) waitFrames(n int64) {
	c.tb.Helper()
	target := c.frames.Load() + n
	deadline := time.After(waitLimit)
	for c.frames.Load() < target {
		select {
		case <-c.frameCh:
		case <-deadline:
			c.tb.Fatalf("customer %s: %d frames, want %d", c.id, c.frames.Load(), target)
		}
	}
}

func (c *customer) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	<-c.done
	c.readers.Wait()
	_ = c.pc.GracefulClose()
	c.hub.mu.Lock()
	delete(c.hub.customers, c.id)
	c.hub.mu.Unlock()
}
