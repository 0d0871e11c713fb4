package health

import (
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Config configures a Tracker.
type Config struct {
	// Clock timestamps changes and measures uptime; nil means the real clock.
	Clock clockwork.Clock
	// Logger receives one line per overall state change; nil means slog.Default().
	Logger *slog.Logger
	// Thresholds for Degraded; zero fields take the defaults.
	Thresholds Thresholds
}

// Snapshot is the tracker's state at one change. It is a value: subscribers
// may keep it.
type Snapshot struct {
	// Seq increases by one on every change; a subscriber that sees a gap
	// was coalesced past intermediate snapshots.
	Seq uint64
	// At is when this change happened.
	At time.Time
	// Overall is the derived appliance state, Reason says why in one line.
	Overall State
	Reason  string
	// OverallSince is when Overall last changed.
	OverallSince time.Time
	// Started is when the tracker was created; Uptime is At-Started (or
	// now-Started for Tracker.Snapshot).
	Started time.Time
	Uptime  time.Duration
	Facts
}

// Tracker holds the facts and fans out Snapshots. It needs no goroutine:
// reporters compute the new snapshot under mu and hand it to each
// subscriber's one-slot mailbox without blocking (the stale value, if
// unread, is replaced), so a slow subscriber never blocks a reporter.
// All methods are safe for concurrent use.
type Tracker struct {
	clk clockwork.Clock
	log *slog.Logger
	th  Thresholds

	mu      sync.Mutex // guards snap, subs and entered
	snap    Snapshot
	subs    map[*Subscription]struct{}
	entered [numStates]uint64
}

// New returns a Tracker in StateBooting.
func New(cfg Config) (*Tracker, error) {
	th, err := cfg.Thresholds.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tracker{
		clk:  cfg.Clock,
		log:  cfg.Logger.With("component", "health"),
		th:   th,
		subs: make(map[*Subscription]struct{}),
	}
	now := t.clk.Now()
	f := Facts{Booting: true}
	st, reason := Derive(f, th)
	t.snap = Snapshot{Seq: 1, At: now, Overall: st, Reason: reason, OverallSince: now, Started: now, Facts: f}
	t.entered[st]++
	return t, nil
}

// Thresholds returns the thresholds in force (defaults filled).
func (t *Tracker) Thresholds() Thresholds { return t.th }

// ReportSocket records the socket manager's status. Since is ignored.
func (t *Tracker) ReportSocket(s SocketStatus) {
	t.update(func(f *Facts, now time.Time) {
		s.Since = f.Socket.Since
		if s.State != f.Socket.State || s.Since.IsZero() {
			s.Since = now
		}
		f.Socket = s
	})
}

// ReportPeer records the peer session's status. Since is ignored; a NaN or
// out-of-range Loss is clamped to 0..1.
func (t *Tracker) ReportPeer(p PeerStatus) {
	if math.IsNaN(p.Loss) || p.Loss < 0 {
		p.Loss = 0
	} else if p.Loss > 1 {
		p.Loss = 1
	}
	t.update(func(f *Facts, now time.Time) {
		p.Since = f.Peer.Since
		if p.State != f.Peer.State || p.Since.IsZero() {
			p.Since = now
		}
		f.Peer = p
	})
}

// ReportMedia records the media pipeline's status. The device list is
// copied: snapshots are values that subscribers keep.
func (t *Tracker) ReportMedia(m MediaStatus) {
	m.Devices = slices.Clone(m.Devices)
	t.update(func(f *Facts, _ time.Time) { f.Media = m })
}

// ReportNetwork records whether the network is up.
func (t *Tracker) ReportNetwork(n NetworkStatus) {
	t.update(func(f *Facts, _ time.Time) { f.Network = n })
}

// SetBooting marks start-up as under way (true, the initial value) or done.
func (t *Tracker) SetBooting(b bool) {
	t.update(func(f *Facts, _ time.Time) { f.Booting = b })
}

// SetRestarting announces a pending self-restart with its reason; "" clears it.
func (t *Tracker) SetRestarting(reason string) {
	t.update(func(f *Facts, _ time.Time) { f.Restarting = reason })
}

// SetFault reports a fatal fault with its reason; "" clears it.
func (t *Tracker) SetFault(reason string) {
	t.update(func(f *Facts, _ time.Time) { f.Fault = reason })
}

// Snapshot returns the current snapshot with Uptime measured now.
func (t *Tracker) Snapshot() Snapshot {
	t.mu.Lock()
	s := t.snap
	t.mu.Unlock()
	s.Uptime = t.clk.Since(s.Started)
	return s
}

// Entered counts how often the overall state has entered st (the initial
// Booting counts once). Unlike snapshots, which a slow subscriber may see
// coalesced, these counts miss nothing: metrics read them.
func (t *Tracker) Entered(st State) uint64 {
	if st < 0 || st >= numStates {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entered[st]
}

// update applies fn to a copy of the facts and publishes if anything changed.
func (t *Tracker) update(fn func(f *Facts, now time.Time)) {
	now := t.clk.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.snap.Facts
	fn(&f, now)
	if f.Equal(t.snap.Facts) {
		return
	}
	prev := t.snap
	st, reason := Derive(f, t.th)
	s := Snapshot{
		Seq:          prev.Seq + 1,
		At:           now,
		Overall:      st,
		Reason:       reason,
		OverallSince: prev.OverallSince,
		Started:      prev.Started,
		Uptime:       now.Sub(prev.Started),
		Facts:        f,
	}
	if st != prev.Overall {
		s.OverallSince = now
		t.entered[st]++
		t.log.Info("state change", "from", prev.Overall.String(), "to", st.String(), "reason", reason)
	}
	t.snap = s
	for sub := range t.subs {
		sub.offer(s)
	}
}

// Subscription delivers Snapshots. Its channel holds at most one: when the
// subscriber is slow, the unread snapshot is replaced by the newest
// (coalescing), so the subscriber always ends up with the latest state.
type Subscription struct {
	t  *Tracker
	ch chan Snapshot // one slot; written only under t.mu
}

// Subscribe returns a subscription whose channel already holds the current
// snapshot, so a new subscriber (LED player, console) starts in sync.
func (t *Tracker) Subscribe() *Subscription {
	sub := &Subscription{t: t, ch: make(chan Snapshot, 1)}
	t.mu.Lock()
	sub.ch <- t.snap
	t.subs[sub] = struct{}{}
	t.mu.Unlock()
	return sub
}

// C returns the channel of snapshots; it is closed by Close.
func (s *Subscription) C() <-chan Snapshot { return s.ch }

// Close stops delivery and closes C. It is safe to call more than once.
func (s *Subscription) Close() {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if _, ok := s.t.subs[s]; !ok {
		return
	}
	delete(s.t.subs, s)
	close(s.ch)
}

// offer replaces any unread snapshot with snap without blocking. Called with
// t.mu held, so no other writer races: after the drain the slot is free
// (the reader can only empty it), and the send cannot block.
func (s *Subscription) offer(snap Snapshot) {
	select {
	case <-s.ch:
	default:
	}
	s.ch <- snap
}
