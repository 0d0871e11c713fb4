package setup

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/gpio"
	"tether/signaling/socketio"
	"tether/store"
)

// Status view sizes.
const (
	rttPoints  = 120 // points kept for the RTT chart
	viewEvents = 50  // events shown on the page
)

// statusView is the JSON the page renders: built from a health snapshot,
// the RTT history, the event log and the LEDs. It holds no token and no
// password (the session's token is left out on purpose).
type statusView struct {
	Seq          uint64         `json:"seq"`
	At           time.Time      `json:"at"`
	Overall      string         `json:"overall"`
	Reason       string         `json:"reason"`
	OverallSince time.Time      `json:"overallSince"`
	LoginNeeded  bool           `json:"loginNeeded"`
	Line         string         `json:"line"`
	Started      time.Time      `json:"started"`
	UptimeS      int64          `json:"uptimeS"`
	Socket       socketView     `json:"socket"`
	Peer         peerView       `json:"peer"`
	Media        mediaView      `json:"media"`
	Network      networkView    `json:"network"`
	Session      *sessionView   `json:"session"`
	RTT          []rttPoint     `json:"rtt"`
	Events       []eventView    `json:"events"`
	LEDs         []gpio.LEDView `json:"leds"`
}

type socketView struct {
	State     string    `json:"state"`
	Transport string    `json:"transport"`
	Attempt   int       `json:"attempt"`
	RTTMs     float64   `json:"rttMs"`
	LastError string    `json:"lastError"`
	Since     time.Time `json:"since"`
}

type peerView struct {
	State     string    `json:"state"`
	Path      string    `json:"path"`
	RTTMs     float64   `json:"rttMs"`
	LossPct   float64   `json:"lossPct"`
	Missed    int       `json:"missedHeartbeats"`
	LastError string    `json:"lastError"`
	Since     time.Time `json:"since"`
}

// mediaView lists the media devices by name (camera, mic; issue 15's
// speaker and display as they come), each with the media layer's state.
type mediaView struct {
	Devices   []deviceView `json:"devices"`
	Encoder   string       `json:"encoder"` // kind, or "down"
	LastError string       `json:"lastError"`
}

type deviceView struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Error string `json:"error"`
}

func newMediaView(m health.MediaStatus) mediaView {
	v := mediaView{Devices: []deviceView{}, Encoder: m.EncoderState(), LastError: m.LastError()}
	for _, d := range m.Devices {
		v.Devices = append(v.Devices, deviceView{Name: d.Name, State: d.State.String(), Error: d.Error})
	}
	return v
}

type networkView struct {
	State  string `json:"state"`
	Detail string `json:"detail"`
}

type sessionView struct {
	HubURL    string    `json:"hubUrl"`
	DeviceID  string    `json:"deviceId"`
	RoomID    string    `json:"roomId"`
	ExpiresAt time.Time `json:"expiresAt"`
	Expired   bool      `json:"expired"`
}

type rttPoint struct {
	T      int64   `json:"t"` // unix ms
	Socket float64 `json:"socket"`
	Peer   float64 `json:"peer"`
}

type eventView struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Component string    `json:"component"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Detail    string    `json:"detail"`
}

// pathName is the ICE path as the page shows it, "unknown" before a pair
// is selected.
func pathName(p peer.Path) string {
	if p == peer.PathNone {
		return "unknown"
	}
	return string(p)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// buildView renders a snapshot. It reads the store (session, events);
// cache may be nil.
func (s *Server) buildView(snap health.Snapshot, rtt []rttPoint, leds []gpio.LEDView, cache *eventCache) statusView {
	now := s.clk.Now()
	v := statusView{
		Seq: snap.Seq, At: snap.At, Overall: snap.Overall.String(), Reason: snap.Reason,
		OverallSince: snap.OverallSince, Line: snap.Line(), Started: snap.Started,
		UptimeS: int64(now.Sub(snap.Started) / time.Second),
		Socket: socketView{
			State: snap.Socket.State.String(), Transport: snap.Socket.Transport, Attempt: snap.Socket.Attempt,
			RTTMs: ms(snap.Socket.RTT), LastError: snap.Socket.LastError, Since: snap.Socket.Since,
		},
		Peer: peerView{
			State: snap.Peer.State.String(), Path: pathName(snap.Peer.Path), RTTMs: ms(snap.Peer.RTT),
			LossPct: snap.Peer.Loss * 100, Missed: snap.Peer.MissedHeartbeats, LastError: snap.Peer.LastError, Since: snap.Peer.Since,
		},
		Media:   newMediaView(snap.Media),
		Network: networkView{State: snap.Network.State.String(), Detail: snap.Network.Detail},
		RTT:     rtt,
		LEDs:    leds,
	}
	if v.RTT == nil {
		v.RTT = []rttPoint{}
	}
	if v.LEDs == nil {
		v.LEDs = []gpio.LEDView{}
	}
	v.LoginNeeded = snap.Overall == health.StateLoginNeeded || snap.Socket.State == socketio.SessionExpired
	sess, err := s.cfg.Store.Session()
	switch {
	case err == nil:
		v.Session = &sessionView{HubURL: sess.HubURL, DeviceID: sess.DeviceID, RoomID: sess.RoomID,
			ExpiresAt: sess.ExpiresAt, Expired: sess.Expired(now)}
		if sess.Expired(now) {
			v.LoginNeeded = true
		}
	case errors.Is(err, store.ErrNoSession):
		v.LoginNeeded = true
	default:
		s.log.Warn("reading the stored session failed", "err", err)
	}
	v.Events = s.events(cache)
	return v
}

// eventCache keeps the rendered event list between publishes; it is owned
// by the status loop. Decoding 50 records per health change cost about
// 1 ms (BenchmarkStatusPublish), so the list is re-read only when the
// newest event changed.
type eventCache struct {
	top   uint64
	views []eventView
}

// events returns the newest events first, through cache if not nil.
func (s *Server) events(cache *eventCache) []eventView {
	if cache != nil && cache.views != nil {
		last, err := s.cfg.Store.Events(1)
		if err == nil && (len(last) == 0 && cache.top == 0 || len(last) == 1 && last[0].Seq == cache.top) {
			return cache.views
		}
	}
	evs, err := s.cfg.Store.Events(viewEvents)
	if err != nil {
		s.log.Warn("reading the event log failed", "err", err)
	}
	views := make([]eventView, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		e := evs[i]
		views = append(views, eventView{Seq: e.Seq, Time: e.Time, Component: e.Component, From: e.From, To: e.To, Detail: e.Detail})
	}
	if cache != nil {
		cache.views, cache.top = views, 0
		if len(views) > 0 {
			cache.top = views[0].Seq
		}
	}
	return views
}

// message is one server-sent event, encoded once for every client.
type message struct {
	event string
	data  []byte
}

// fanout fans status and LED messages out to the open streams. Each client has
// a one-slot mailbox per kind that the newest message replaces, so a slow
// browser never blocks the status loop (as health.Subscription does).
type fanout struct {
	mu      sync.Mutex // guards clients, status, leds
	clients map[*client]struct{}
	status  *message // latest, for new clients
	leds    *message
}

type client struct {
	status, leds chan *message
	gone         chan struct{} // closed by closeAll (password reset)
}

func newFanout() *fanout { return &fanout{clients: map[*client]struct{}{}} }

func (h *fanout) join() *client {
	c := &client{status: make(chan *message, 1), leds: make(chan *message, 1), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = struct{}{}
	if h.status != nil {
		c.status <- h.status
	}
	if h.leds != nil {
		c.leds <- h.leds
	}
	return c
}

func (h *fanout) leave(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

func offer(ch chan *message, m *message) {
	select {
	case <-ch:
	default:
	}
	ch <- m
}

func (h *fanout) publish(m *message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.event == "leds" {
		h.leds = m
	} else {
		h.status = m
	}
	for c := range h.clients {
		if m.event == "leds" {
			offer(c.leds, m)
		} else {
			offer(c.status, m)
		}
	}
}

func (h *fanout) latestStatus() *message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// closeAll ends every stream (after a password reset the sessions are gone).
func (h *fanout) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		close(c.gone)
		delete(h.clients, c)
	}
}

// runStatus is the status loop: it owns the RTT history and the last LED
// state, follows the health tracker, polls the LEDs and the event log, and
// publishes views to the fan-out. Run starts it.
func (s *Server) runStatus(ctx context.Context) {
	sub := s.cfg.Health.Subscribe()
	defer sub.Close()

	var (
		rtt      []rttPoint
		snap     health.Snapshot
		lastLEDs []gpio.LEDView
		evCache  eventCache
		ledC     <-chan time.Time
	)
	if s.cfg.LEDs != nil {
		t := s.clk.NewTicker(s.cfg.LEDPoll)
		defer t.Stop()
		ledC = t.Chan()
	}
	evT := s.clk.NewTicker(s.cfg.EventPoll)
	defer evT.Stop()

	publish := func() {
		v := s.buildView(snap, slices.Clone(rtt), lastLEDs, &evCache)
		data, err := json.Marshal(v)
		if err != nil {
			s.log.Error("encoding the status failed", "err", err)
			return
		}
		s.fanout.publish(&message{event: "status", data: data})
	}
	pollLEDs := func() bool {
		leds := s.cfg.LEDs()
		if slices.Equal(leds, lastLEDs) {
			return false
		}
		lastLEDs = leds
		data, err := json.Marshal(leds)
		if err == nil {
			s.fanout.publish(&message{event: "leds", data: data})
		}
		return true
	}
	if s.cfg.LEDs != nil {
		pollLEDs()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sn, ok := <-sub.C():
			if !ok {
				return
			}
			snap = sn
			if sn.Socket.RTT > 0 || sn.Peer.RTT > 0 {
				p := rttPoint{T: sn.At.UnixMilli(), Socket: ms(sn.Socket.RTT), Peer: ms(sn.Peer.RTT)}
				if n := len(rtt); n == 0 || rtt[n-1].Socket != p.Socket || rtt[n-1].Peer != p.Peer {
					rtt = append(rtt, p)
					if len(rtt) > rttPoints {
						rtt = slices.Delete(rtt, 0, len(rtt)-rttPoints)
					}
				}
			}
			publish()
		case <-s.kick:
			publish()
		case <-evT.Chan():
			evs, err := s.cfg.Store.Events(1)
			if err == nil && len(evs) == 1 && evs[0].Seq != evCache.top {
				publish()
			}
		case <-ledC:
			pollLEDs()
		}
	}
}

// refresh asks the status loop to republish (after a page action).
func (s *Server) refresh() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
