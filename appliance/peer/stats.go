package peer

import (
	"strconv"
	"time"

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
	Restarts        uint64
	Customers       uint64
	Transitions     uint64
	Entered         map[State]uint64
	IgnoredOffers   uint64
	DroppedCands    uint64
	KeyframeReqs    uint64
	StandbyPrepared uint64
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
	s.DroppedCands = p.stats.droppedCands
	s.KeyframeReqs = p.stats.keyframeReqs.Load()
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
	report := c.pc.GetStats()
	var bytes, packets, frames uint64
	var lost int64
	var fraction float64
	var iceRTT time.Duration
	for _, st := range report {
		switch s := st.(type) {
		case webrtc.OutboundRTPStreamStats:
			bytes += s.BytesSent
			packets += uint64(s.PacketsSent)
			frames += uint64(s.FramesSent)
		case webrtc.RemoteInboundRTPStreamStats:
			lost += int64(s.PacketsLost)
			if s.FractionLost > fraction {
				fraction = s.FractionLost
			}
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
