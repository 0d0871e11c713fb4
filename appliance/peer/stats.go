package peer

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/pion/webrtc/v4"
)

// Path names the kind of candidate pair in use (RFC 8445 §5.1.1 candidate
// types): "relay" if either end is a TURN relay, else the local type.
type Path string

// Paths.
const (
	PathNone  Path = ""
	PathHost  Path = "host"
	PathSrflx Path = "srflx"
	PathPrflx Path = "prflx"
	PathRelay Path = "relay"
)

// Stats is a snapshot for the health tracker, metrics and device:status.
type Stats struct {
	State        State
	Customer     string // userId in the call, "" when none
	StandbyReady bool   // a prepared offer is waiting for the next customer

	Path            Path
	LocalCandidate  string // "type addr:port"
	RemoteCandidate string
	RelayOnly       bool // TURN fallback active for this call

	// Heartbeat (data channel): RTT of the last answered ping, pings sent
	// and lost in this call, consecutive misses.
	RTT            time.Duration
	BeatsSent      uint64
	BeatsLost      uint64
	MissedBeats    int
	ICERoundTrip   time.Duration // STUN RTT on the selected pair
	BytesSent      uint64        // RTP payload bytes, all local tracks
	PacketsSent    uint64
	FramesSent     uint64
	PacketsLost    int64   // reported by the customer's receiver reports
	FractionLost   float64 // latest, 0..1
	BitrateBps     float64 // over the last stats interval
	ConnectedAfter time.Duration

	// Totals over the life of Run.
	Restarts      uint64
	Customers     uint64
	Transitions   uint64
	Entered       map[State]uint64
	IgnoredOffers uint64
	// RefusedDescriptions counts the customer's offers and answers that
	// could not be applied or answered (logged with the reason);
	// RefusedCandidates the candidates pion would not add.
	RefusedDescriptions uint64
	RefusedCandidates   uint64
	// Renewed counts calls moved to a fresh PeerConnection because the old
	// one could not negotiate any more (negotiation.go, renew).
	Renewed      uint64
	DroppedCands uint64 // remote candidates of an ignored offer
	EarlyCands   uint64 // remote candidates queued for a remote description
	KeyframeReqs uint64
	// CustomerTracks counts the customer's tracks received (their camera
	// and microphone, one each per call that sends them).
	CustomerTracks  uint64
	StandbyPrepared uint64
	ConsentLost     uint64 // selected pair unanswered while pion said connected (consent.go)
}

// Stats returns the latest snapshot; safe from any goroutine.
func (p *Peer) Stats() Stats {
	p.smu.Lock()
	defer p.smu.Unlock()
	s := p.snap
	s.Entered = make(map[State]uint64, len(p.snap.Entered))
	for k, v := range p.snap.Entered {
		s.Entered[k] = v
	}
	return s
}

// State returns the current state; safe from any goroutine.
func (p *Peer) State() State {
	p.smu.Lock()
	defer p.smu.Unlock()
	return p.snap.State
}

// publish copies the Run goroutine's view into the snapshot.
func (p *Peer) publish() {
	p.smu.Lock()
	defer p.smu.Unlock()
	s := &p.snap
	s.State = p.state
	s.StandbyReady = p.standby != nil && p.standby.gathered
	s.Restarts = p.stats.restarts
	s.Customers = p.stats.customers
	s.Transitions = p.stats.transitions
	s.IgnoredOffers = p.stats.ignoredOffers
	s.RefusedDescriptions = p.stats.refusedDescs
	s.RefusedCandidates = p.stats.refusedCands
	s.Renewed = p.stats.renewed
	s.DroppedCands = p.stats.droppedCands
	s.EarlyCands = p.stats.earlyCands
	s.KeyframeReqs = p.stats.keyframeReqs.Load()
	s.CustomerTracks = p.stats.customerTracks.Load()
	s.ConsentLost = p.stats.consentLost
	s.StandbyPrepared = p.stats.standbyPrepared
	if s.Entered == nil {
		s.Entered = map[State]uint64{}
	}
	for st := State(0); st < numStates; st++ {
		s.Entered[st] = p.stats.entered[st]
	}
	c := p.active
	if c == nil {
		s.Customer, s.Path, s.LocalCandidate, s.RemoteCandidate, s.RelayOnly = "", PathNone, "", "", false
		s.RTT, s.BeatsSent, s.BeatsLost, s.MissedBeats = 0, 0, 0, 0
		s.BytesSent, s.PacketsSent, s.FramesSent, s.PacketsLost, s.FractionLost, s.BitrateBps = 0, 0, 0, 0, 0, 0
		s.ConnectedAfter, s.ICERoundTrip = 0, 0
		return
	}
	s.Customer = c.user
	s.RelayOnly = c.relayOnly
	s.RTT, s.BeatsSent, s.BeatsLost, s.MissedBeats = c.beat.rtt, c.beat.sent, c.beat.lost, c.beat.missed
	if c.connectedOnce {
		s.ConnectedAfter = c.connectedAt.Sub(c.joinedAt)
	}
}

// updatePath records the selected candidate pair. Run goroutine only.
func (p *Peer) updatePath(c *conn) {
	sctp := c.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return
	}
	path := Path(pair.Local.Typ.String())
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay {
		path = PathRelay
	}
	p.smu.Lock()
	p.snap.Path = path
	p.snap.LocalCandidate = pair.Local.Typ.String() + " " + pair.Local.Address + ":" + strconv.Itoa(int(pair.Local.Port))
	p.snap.RemoteCandidate = pair.Remote.Typ.String() + " " + pair.Remote.Address + ":" + strconv.Itoa(int(pair.Remote.Port))
	p.smu.Unlock()
	p.log.Info("path", "customer", c.user, "path", string(path), "local", pair.Local.Address, "remote", pair.Remote.Address)
}

// collectStats reads GetStats (RTCStatsReport, W3C webrtc-stats) for the
// active call. Run goroutine only.
func (p *Peer) collectStats(c *conn) {
	if c.pcUp {
		p.updatePath(c)
	}
	// pion v4.2.26's GetStats reports no outbound-rtp or remote-inbound-rtp
	// entries for senders, so those figures come from sendCounter, an
	// interceptor on this PeerConnection's RTP writer and RTCP reader.
	var bytes, packets, frames uint64
	var lost int64
	var fraction float64
	if sc := c.counter; sc != nil {
		bytes, packets, frames = sc.bytes.Load(), sc.packets.Load(), sc.frames.Load()
		lost = sc.lost.Load()
		fraction = float64(sc.fraction.Load()) / 256 // RFC 3550 §6.4.1: fixed point /256
	}
	var iceRTT time.Duration
	for _, st := range c.pc.GetStats() {
		switch s := st.(type) {
		case webrtc.ICECandidatePairStats:
			if s.Nominated && s.State == webrtc.StatsICECandidatePairStateSucceeded {
				iceRTT = time.Duration(s.CurrentRoundTripTime * float64(time.Second))
			}
		}
	}
	now := p.cfg.Clock.Now()
	var rate float64
	if !c.lastBytesAt.IsZero() && bytes >= c.lastBytes {
		if dt := now.Sub(c.lastBytesAt).Seconds(); dt > 0 {
			rate = float64(bytes-c.lastBytes) * 8 / dt
		}
	}
	c.lastBytes, c.lastBytesAt = bytes, now
	p.smu.Lock()
	p.snap.BytesSent, p.snap.PacketsSent, p.snap.FramesSent = bytes, packets, frames
	p.snap.PacketsLost, p.snap.FractionLost, p.snap.BitrateBps = lost, fraction, rate
	p.snap.ICERoundTrip = iceRTT
	p.smu.Unlock()
}

// sendCounter counts what one PeerConnection sends (RTP packets, payload
// bytes, video frames by the RTP marker bit, RFC 3551 §4.1 / RFC 7741 §4.1)
// and the loss its receiver reports (RFC 3550 §6.4.2). Its fields are
// written by pion's writer and RTCP goroutines and read by Run.
type sendCounter struct {
	interceptor.NoOp
	packets, bytes, frames atomic.Uint64
	lost                   atomic.Int64
	fraction               atomic.Uint32
	// skipReport drops the loss fraction of the next report: set when the
	// path comes back, as that report's interval spans the outage.
	skipReport atomic.Bool
}

func (s *sendCounter) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	video := strings.HasPrefix(strings.ToLower(info.MimeType), "video/")
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n, err := w.Write(h, payload, a)
		if err == nil && n > 0 { // n == 0: SRTP not up yet, pion dropped it
			s.packets.Add(1)
			s.bytes.Add(uint64(len(payload)))
			if video && h.Marker {
				s.frames.Add(1)
			}
		}
		return n, err
	})
}

func (s *sendCounter) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		pkts, perr := rtcp.Unmarshal(b[:n])
		if perr != nil {
			return n, a, nil
		}
		for _, pkt := range pkts {
			var reports []rtcp.ReceptionReport
			switch rr := pkt.(type) {
			case *rtcp.ReceiverReport:
				reports = rr.Reports
			case *rtcp.SenderReport:
				reports = rr.Reports
			}
			skip := len(reports) > 0 && s.skipReport.CompareAndSwap(true, false)
			for _, rep := range reports {
				s.lost.Store(int64(rep.TotalLost))
				if !skip {
					s.fraction.Store(uint32(rep.FractionLost))
				}
			}
		}
		return n, a, nil
	})
}

// counterFactory hands each new PeerConnection its sendCounter; newConn
// collects it by the PeerConnection's id.
type counterFactory struct {
	mu   sync.Mutex
	byID map[string]*sendCounter
}

func (f *counterFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	s := &sendCounter{}
	f.mu.Lock()
	f.byID[id] = s
	f.mu.Unlock()
	return s, nil
}

func (f *counterFactory) take(id string) *sendCounter {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byID[id]
	delete(f.byID, id)
	return s
}
