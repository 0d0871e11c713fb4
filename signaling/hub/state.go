package hub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"tether/signaling"
)

var errNotObject = errors.New("hub: argument is not a JSON object")

// memberState is where a socket stands in its room.
type memberState int

const (
	stateConnected memberState = iota // authenticated, not in a room yet
	stateActive                       // the device, or the customer in the call
	stateQueued                       // a customer waiting
	stateEnded                        // a customer whose call ended; may room:join again
)

func (s memberState) String() string {
	return [...]string{"connected", "active", "queued", "ended"}[s]
}

// member is one socket known to the loop. All fields are owned by the loop
// goroutine.
type member struct {
	conn   Conn
	p      Principal
	userID string
	state  memberState
	joined bool // room:join answered ok
	// verified: the device's session:verify succeeded on this socket.
	verified bool
	// away: the socket dropped recoverably; until awayGen's timer fires a
	// recovered socket with the same id takes its place again.
	away        bool
	awayGen     uint64
	connectedAt time.Time
	// sigLim bounds the signals this socket sends; strikes bounds how
	// often it may be refused before it is disconnected (nil until its
	// first signal).
	sigLim, strikes *rate.Limiter
	// iceGen drops a stale room:ice refresh timer (a new call, or the end
	// of this one).
	iceGen uint64
}

func (m *member) info() signaling.Member {
	return signaling.Member{UserID: m.userID, Role: string(m.p.Role), Name: m.p.Name}
}

// room is one counter's room.
type room struct {
	id     string
	device *member
	active *member   // the customer in the call
	queue  []*member // waiting customers, in order
	// callStart is when active was promoted.
	callStart time.Time
}

// deviceRecord is what the fleet dashboard shows of a device; it outlives
// the socket.
type deviceRecord struct {
	DeviceID    string          `json:"deviceId"`
	Account     string          `json:"account"`
	RoomID      string          `json:"roomId"`
	Online      bool            `json:"online"`
	Transport   string          `json:"transport,omitempty"`
	ConnectedAt time.Time       `json:"connectedAt,omitzero"`
	LastSeen    time.Time       `json:"lastSeen,omitzero"`
	Connects    uint64          `json:"connects"`
	Status      json.RawMessage `json:"status,omitempty"`
	StatusAt    time.Time       `json:"statusAt,omitzero"`
}

// state is everything the loop owns.
type state struct {
	clk     clockwork.Clock
	log     *slog.Logger
	metrics *metrics
	// ice returns the ICE servers for a user (TURN credentials are per user).
	ice func(userID string) []signaling.ICEServer
	// recovery is how long a dropped socket keeps its place.
	recovery time.Duration
	// maxQueue bounds the customers waiting per room, maxPerInvite and
	// maxPerAddr those of one invite and one client address (0: no bound).
	maxQueue, maxPerInvite, maxPerAddr int
	// queueGrace is how long a dropped waiting customer keeps its place.
	queueGrace time.Duration
	// Signal limits per socket (Config.SignalRate, SignalBurst,
	// SignalStrikes; rate 0 or below: none).
	signalRate                 float64
	signalBurst, signalStrikes int
	// iceRefresh is how often the customer in the call gets fresh TURN
	// credentials (room:ice); 0: never.
	iceRefresh time.Duration
	// entitle tells the TURN server who may use the relay now.
	entitle func(user string, ok bool)
	// after schedules f on the loop after d (the hub's timer plumbing).
	after func(d time.Duration, f func(*state))
	// roomcast sends an event to the room's Socket.IO room on every server
	// but to the sockets in except (the hub's members, served one by
	// one); nil on one node, where nobody else can be in it.
	roomcast func(room string, except []string, event string, arg any)

	members map[string]*member // by socket id
	rooms   map[string]*room
	devices map[string]*deviceRecord // by device id
	gen     uint64
}

func newState(clk clockwork.Clock, log *slog.Logger, m *metrics) *state {
	return &state{
		clk: clk, log: log, metrics: m, recovery: 2 * time.Minute,
		ice:     func(string) []signaling.ICEServer { return nil },
		after:   func(time.Duration, func(*state)) {},
		entitle: func(string, bool) {},
		members: map[string]*member{}, rooms: map[string]*room{}, devices: map[string]*deviceRecord{},
	}
}

func newUserID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "cus-" + hex.EncodeToString(b)
}

func (st *state) room(id string) *room {
	r := st.rooms[id]
	if r == nil {
		r = &room{id: id}
		st.rooms[id] = r
		st.metrics.rooms.Set(float64(len(st.rooms)))
	}
	return r
}

// gcRoom forgets a room nobody is in.
func (st *state) gcRoom(r *room) {
	if r.device == nil && r.active == nil && len(r.queue) == 0 {
		delete(st.rooms, r.id)
		st.metrics.rooms.Set(float64(len(st.rooms)))
	}
}

// connected registers a socket. A recovered socket whose member is away
// takes its place again; a recovered socket the hub no longer knows is
// disconnected, so its client starts over with verify and room:join.
func (st *state) connected(c Conn, p Principal, recovered bool) {
	now := st.clk.Now()
	if m := st.members[c.ID()]; m != nil {
		m.conn = c
		if m.away {
			m.away = false
			st.metrics.reconnects.WithLabelValues(string(m.p.Role), "recovered").Inc()
			st.log.Info("socket recovered", "role", m.p.Role, "user", m.userID, "room", m.p.RoomID)
			if m.p.Role == RoleDevice && m.joined {
				st.deviceOnline(st.room(m.p.RoomID), true)
			}
		}
		return
	}
	if recovered {
		st.log.Info("recovered socket unknown to the hub; disconnecting it", "sid", c.ID())
		c.Disconnect()
		return
	}
	m := &member{conn: c, p: p, connectedAt: now}
	switch p.Role {
	case RoleDevice:
		m.userID = p.DeviceID
	default:
		m.userID = newUserID()
	}
	st.members[c.ID()] = m
	if p.Role == RoleDevice {
		d := st.device(p)
		if d.Connects > 0 {
			st.metrics.reconnects.WithLabelValues(string(p.Role), "new_session").Inc()
		}
		d.Connects++
	}
}

func (st *state) device(p Principal) *deviceRecord {
	d := st.devices[p.DeviceID]
	if d == nil {
		d = &deviceRecord{DeviceID: p.DeviceID, Account: p.Account, RoomID: p.RoomID}
		st.devices[p.DeviceID] = d
	}
	return d
}

// disconnected handles a socket that closed. A recoverable close keeps the
// member's place for the recovery window (the contract's "keeps its
// userId"); anything else, or the window ending, removes it.
func (st *state) disconnected(id string, recoverable bool) {
	m := st.members[id]
	if m == nil || m.away {
		return
	}
	if recoverable && st.recovery > 0 {
		window := st.recovery
		if m.joined && m.state == stateQueued {
			// A waiting customer that vanished must not hold its place for
			// the recovery window (issue 12): a short grace only.
			window = min(window, st.queueGrace)
		}
		m.away = true
		st.gen++
		m.awayGen = st.gen
		gen := st.gen
		st.log.Info("socket dropped; keeping its place", "role", m.p.Role, "user", m.userID, "window", window)
		if m.p.Role == RoleDevice && m.joined {
			st.deviceOnline(st.room(m.p.RoomID), false)
		}
		st.after(window, func(st *state) {
			if m2 := st.members[id]; m2 == m && m.away && m.awayGen == gen {
				st.remove(m, "disconnect")
			}
		})
		return
	}
	st.remove(m, "disconnect")
}

// remove takes a socket out of its room and forgets it.
func (st *state) remove(m *member, reason string) {
	if st.members[m.conn.ID()] == m {
		delete(st.members, m.conn.ID())
	}
	if !m.joined {
		return
	}
	r := st.rooms[m.p.RoomID]
	if r == nil {
		return
	}
	switch {
	case r.device == m:
		r.device = nil
		if d := st.devices[m.p.DeviceID]; d != nil {
			d.Online, d.LastSeen = false, st.clk.Now()
		}
		if !m.away { // an away device already said offline
			st.deviceOnline(r, false)
		}
		if r.active != nil {
			r.active.conn.Emit(signaling.EvUserLeft, signaling.RoomEvent{RoomID: r.id, UserID: m.userID, Reason: reason})
		}
	case r.active == m:
		st.endCall(r, "", false)
		if r.device != nil {
			r.device.conn.Emit(signaling.EvUserLeft, signaling.RoomEvent{RoomID: r.id, UserID: m.userID, Reason: reason})
		}
		st.promote(r)
	default:
		st.dequeue(r, m)
	}
	m.joined = false
	leaveRoom(m.conn, r.id)
	st.gcRoom(r)
	st.updateQueueMetric()
}

// deviceOnline tells every customer of the room whether the counter is
// reachable (room:device:status, the hub's event; docs/protocol.md).
func (st *state) deviceOnline(r *room, online bool) {
	ev := deviceStatusEvent{RoomID: r.id, Online: online}
	except := make([]string, 0, 2+len(r.queue))
	if r.device != nil {
		except = append(except, r.device.conn.ID())
	}
	if r.active != nil {
		r.active.conn.Emit(evDeviceStatus, ev)
		except = append(except, r.active.conn.ID())
	}
	for _, q := range r.queue {
		q.conn.Emit(evDeviceStatus, ev)
		except = append(except, q.conn.ID())
	}
	if st.roomcast != nil {
		// Whoever else is in the room's Socket.IO room: a Node socket.io
		// server's sockets on the same adapter (issue 17 §2).
		st.roomcast(r.id, except, evDeviceStatus, ev)
	}
}

// evDeviceStatus is the hub's "counter online/offline" event to customers.
const evDeviceStatus = "room:device:status"

type deviceStatusEvent struct {
	RoomID string `json:"roomId"`
	Online bool   `json:"online"`
}

// joinReply is room:join's answer: the contract's ok and members, plus the
// hub's fields for customers (docs/protocol.md).
type joinReply struct {
	OK           bool                  `json:"ok"`
	Error        string                `json:"error,omitempty"`
	Members      []signaling.Member    `json:"members,omitempty"`
	UserID       string                `json:"userId,omitempty"`
	Position     *int                  `json:"position,omitempty"`
	DeviceOnline *bool                 `json:"deviceOnline,omitempty"`
	ICEServers   []signaling.ICEServer `json:"iceServers,omitempty"`
}

// join handles room:join.
func (st *state) join(id, roomID string, ack Ack) {
	m := st.members[id]
	if m == nil {
		answer(ack, fail(codeUnauthorized))
		return
	}
	if roomID != m.p.RoomID {
		answer(ack, fail(codeForbidden))
		return
	}
	r := st.room(roomID)
	switch m.p.Role {
	case RoleDevice:
		if !m.verified {
			answer(ack, fail(codeUnauthorized))
			return
		}
		if old := r.device; old != nil && old != m {
			// The same counter on a new socket (a reconnect the server did
			// not recover, or a second login): the newest wins, the device's
			// userId stays, so the customer sees no change but the status.
			delete(st.members, old.conn.ID())
			old.joined = false
			old.conn.Disconnect()
		}
		wasOnline := r.device != nil && !r.device.away
		r.device, m.joined, m.state = m, true, stateActive
		joinRoom(m.conn, r.id)
		d := st.device(m.p)
		d.Online, d.Transport, d.ConnectedAt, d.LastSeen = true, m.conn.Transport(), m.connectedAt, st.clk.Now()
		members := []signaling.Member{m.info()}
		if r.active != nil {
			members = append(members, r.active.info())
		}
		answer(ack, joinReply{OK: true, Members: members})
		if !wasOnline {
			st.deviceOnline(r, true)
		}
		if r.active != nil {
			r.active.conn.Emit(signaling.EvUserJoined, signaling.RoomEvent{RoomID: r.id, UserID: m.userID, Role: string(RoleDevice)})
		}
		if r.active == nil {
			st.promote(r)
		}
	case RoleCustomer:
		if !m.joined {
			if r.active != nil && !st.queueRoom(r, m) {
				answer(ack, fail(codeRoomFull))
				return
			}
			m.joined = true
			joinRoom(m.conn, r.id)
			if r.active == nil {
				st.activate(r, m, false)
			} else {
				m.state = stateQueued
				r.queue = append(r.queue, m)
			}
		}
		pos := st.position(r, m)
		online := r.device != nil && !r.device.away
		members := []signaling.Member{m.info()}
		if r.device != nil {
			members = append([]signaling.Member{r.device.info()}, members...)
		}
		// TURN credentials only for the customer in the call (issue 12); a
		// waiting customer gets them with room:ice when promoted.
		var ice []signaling.ICEServer
		if pos == 0 {
			ice = st.ice(m.userID)
		}
		answer(ack, joinReply{OK: true, Members: members, UserID: m.userID, Position: &pos, DeviceOnline: &online, ICEServers: ice})
		m.conn.Emit(signaling.EvQueuePosition, queuePosition{Position: pos})
		if pos == 0 && r.device != nil {
			r.device.conn.Emit(signaling.EvUserJoined, signaling.RoomEvent{RoomID: r.id, UserID: m.userID, Role: string(RoleCustomer), Name: m.p.Name})
		}
	}
	st.updateQueueMetric()
}

type queuePosition struct {
	Position int `json:"position"`
}

// position is 0 for the customer in the call and 1.. for the queue.
func (st *state) position(r *room, m *member) int {
	for i, q := range r.queue {
		if q == m {
			return i + 1
		}
	}
	return 0
}

// queueRoom reports whether m may take a place in r's queue: the room's
// bound, and the places already held with m's invite and from m's
// address.
func (st *state) queueRoom(r *room, m *member) bool {
	if st.maxQueue > 0 && len(r.queue) >= st.maxQueue {
		return false
	}
	inv, addr := 0, 0
	for _, q := range r.queue {
		if q.p.InviteID != "" && q.p.InviteID == m.p.InviteID {
			inv++
		}
		if q.p.Addr != "" && q.p.Addr == m.p.Addr {
			addr++
		}
	}
	if (st.maxPerInvite > 0 && inv >= st.maxPerInvite) || (st.maxPerAddr > 0 && addr >= st.maxPerAddr) {
		st.log.Info("queue place refused", "room", r.id, "invite", m.p.InviteID, "addr", m.p.Addr, "byInvite", inv, "byAddr", addr)
		st.metrics.queueRefused.Inc()
		return false
	}
	return true
}

// evICE carries fresh TURN credentials to the customer in the call (the
// hub's event, docs/protocol.md): on promotion, and every iceRefresh.
const evICE = "room:ice"

type iceEvent struct {
	ICEServers []signaling.ICEServer `json:"iceServers"`
}

// refreshICE sends m fresh credentials every iceRefresh while it stays in
// the same call.
func (st *state) refreshICE(r *room, m *member) {
	if st.iceRefresh <= 0 {
		return
	}
	gen := m.iceGen
	st.after(st.iceRefresh, func(st *state) {
		if r.active != m || m.iceGen != gen || st.members[m.conn.ID()] != m {
			return
		}
		if ice := st.ice(m.userID); len(ice) > 0 {
			m.conn.Emit(evICE, iceEvent{ICEServers: ice})
		}
		st.refreshICE(r, m)
	})
}

// activate makes m the room's customer in the call.
func (st *state) activate(r *room, m *member, announce bool) {
	r.active, m.state, r.callStart = m, stateActive, st.clk.Now()
	st.metrics.calls.Inc()
	st.metrics.activeCalls.Inc()
	st.entitle(m.userID, true)
	m.iceGen++
	st.refreshICE(r, m)
	if announce {
		if ice := st.ice(m.userID); len(ice) > 0 {
			m.conn.Emit(evICE, iceEvent{ICEServers: ice})
		}
		m.conn.Emit(signaling.EvQueuePosition, queuePosition{Position: 0})
		if r.device != nil {
			m.conn.Emit(signaling.EvUserJoined, signaling.RoomEvent{RoomID: r.id, UserID: r.device.userID, Role: string(RoleDevice)})
			r.device.conn.Emit(signaling.EvUserJoined, signaling.RoomEvent{RoomID: r.id, UserID: m.userID, Role: string(RoleCustomer), Name: m.p.Name})
		}
	}
}

// promote moves the first waiting customer into the call and tells the
// rest their new positions.
func (st *state) promote(r *room) {
	if r.active != nil || len(r.queue) == 0 {
		return
	}
	next := r.queue[0]
	r.queue = r.queue[1:]
	st.log.Info("customer promoted", "room", r.id, "user", next.userID, "waiting", len(r.queue))
	st.activate(r, next, true)
	for i, q := range r.queue {
		q.conn.Emit(signaling.EvQueuePosition, queuePosition{Position: i + 1})
	}
}

func (st *state) dequeue(r *room, m *member) {
	for i, q := range r.queue {
		if q == m {
			r.queue = append(r.queue[:i:i], r.queue[i+1:]...)
			for j := i; j < len(r.queue); j++ {
				r.queue[j].conn.Emit(signaling.EvQueuePosition, queuePosition{Position: j + 1})
			}
			return
		}
	}
}

// endCall clears the room's call. With notify the device and the customer
// get call:ended.
func (st *state) endCall(r *room, reason string, notify bool) {
	c := r.active
	if c == nil {
		return
	}
	r.active = nil
	c.state = stateEnded
	c.joined = false
	leaveRoom(c.conn, r.id)
	c.iceGen++
	st.entitle(c.userID, false)
	st.metrics.activeCalls.Dec()
	st.metrics.callSeconds.Observe(st.clk.Since(r.callStart).Seconds())
	if notify {
		ev := signaling.RoomEvent{RoomID: r.id, UserID: c.userID, Reason: reason}
		c.conn.Emit(signaling.EvCallEnded, ev)
		if r.device != nil {
			r.device.conn.Emit(signaling.EvCallEnded, ev)
		}
	}
}

// callEnded handles call:ended from either side: the device or the
// customer in the call ends the call (the next customer is promoted); a
// waiting customer leaves the queue.
func (st *state) callEnded(id string, ev signaling.RoomEvent, ack Ack) {
	m := st.members[id]
	if m == nil || !m.joined {
		answer(ack, fail(codeNotJoined))
		return
	}
	if ev.RoomID != "" && ev.RoomID != m.p.RoomID {
		answer(ack, fail(codeForbidden))
		return
	}
	r := st.room(m.p.RoomID)
	reason := clip(ev.Reason, 64)
	if reason == "" {
		reason = "ended"
	}
	switch {
	case m == r.device:
		if r.active == nil || (ev.UserID != "" && ev.UserID != r.active.userID) {
			answer(ack, fail(codeNotInCall))
			return
		}
	case m == r.active:
	default: // a waiting customer gives up
		st.dequeue(r, m)
		m.joined, m.state = false, stateEnded
		leaveRoom(m.conn, r.id)
		answer(ack, reply{OK: true})
		st.updateQueueMetric()
		st.gcRoom(r)
		return
	}
	st.log.Info("call ended", "room", r.id, "by", m.p.Role, "reason", reason)
	st.endCall(r, reason, true)
	answer(ack, reply{OK: true})
	st.promote(r)
	st.updateQueueMetric()
	st.gcRoom(r)
}

// allowSignal applies the sender's signal rate; false when refused (the
// refusal is answered and counted as a strike).
func (st *state) allowSignal(m *member, ack Ack) bool {
	if st.signalRate <= 0 {
		return true
	}
	now := st.clk.Now()
	if m.sigLim == nil {
		m.sigLim = rate.NewLimiter(rate.Limit(st.signalRate), max(st.signalBurst, 1))
	}
	if m.sigLim.AllowN(now, 1) {
		return true
	}
	st.strike(m, "rate_limited", codeRateLimited, ack)
	return false
}

// signalRefused answers a signal refused before routing (too large).
func (st *state) signalRefused(id, result, code string, ack Ack) {
	m := st.members[id]
	if m == nil {
		st.metrics.signals.WithLabelValues(result).Inc()
		answer(ack, fail(code))
		return
	}
	st.strike(m, result, code, ack)
}

// strike answers a refused signal with code and counts it against the
// sender; past SignalStrikes refusals in a burst (then one a second) the
// sender is disconnected: it is flooding, and its own socket is the only
// one that pays (issue 12).
func (st *state) strike(m *member, result, code string, ack Ack) {
	st.metrics.signals.WithLabelValues(result).Inc()
	answer(ack, fail(code))
	if st.signalStrikes <= 0 {
		return
	}
	if m.strikes == nil {
		m.strikes = rate.NewLimiter(1, st.signalStrikes)
	}
	if !m.strikes.AllowN(st.clk.Now(), 1) {
		st.log.Warn("signal flood; disconnecting the sender", "role", m.p.Role, "user", m.userID, "room", m.p.RoomID)
		st.metrics.signalFloods.Inc()
		m.conn.Close()
		st.remove(m, "disconnect")
	}
}

// signal forwards a Perfect Negotiation message between the device and the
// customer in the call of the sender's room, and nowhere else. It is
// volatile (docs/protocol.md): never logged for recovery, and dropped when
// the receiver's connection is not keeping up, so traffic relayed for
// someone else never closes the receiver's socket.
func (st *state) signal(id string, s signaling.Signal, ack Ack) {
	m := st.members[id]
	if m != nil && !st.allowSignal(m, ack) {
		return
	}
	var to *member
	if m != nil && m.joined {
		r := st.rooms[m.p.RoomID]
		switch {
		case r == nil:
		case m == r.device && r.active != nil && s.To == r.active.userID:
			to = r.active
		case m == r.active && r.device != nil && s.To == r.device.userID:
			to = r.device
		}
	}
	if to == nil {
		st.metrics.signals.WithLabelValues("dropped").Inc()
		answer(ack, fail(codeNotInCall))
		return
	}
	s.From, s.To = m.userID, ""
	if !to.conn.EmitVolatile(signaling.EvSignal, s) {
		st.metrics.signals.WithLabelValues("receiver_slow").Inc()
		answer(ack, fail(codeReceiverSlow))
		return
	}
	st.metrics.signals.WithLabelValues("forwarded").Inc()
	answer(ack, reply{OK: true})
}

// verified records a successful session:verify on a device socket.
func (st *state) verified(id string) bool {
	m := st.members[id]
	if m == nil || m.p.Role != RoleDevice {
		return false
	}
	m.verified = true
	st.entitle(m.userID, true)
	return true
}

// deviceStatus stores the latest device:status for the fleet dashboard.
func (st *state) deviceStatus(id string, raw json.RawMessage) {
	m := st.members[id]
	if m == nil || m.p.Role != RoleDevice || !m.verified {
		return
	}
	d := st.device(m.p)
	d.Status, d.StatusAt, d.LastSeen = append(json.RawMessage(nil), raw...), st.clk.Now(), st.clk.Now()
}

// expireAccount pushes session:expired to the account's connected device
// and disconnects it (revocation).
func (st *state) expireAccount(account string) int {
	n := 0
	for _, m := range st.members {
		if m.p.Role == RoleDevice && m.p.Account == account {
			m.conn.Emit(signaling.EvSessionExpired, struct{}{})
			m.conn.Disconnect()
			st.entitle(m.userID, false)
			st.remove(m, "session_expired")
			n++
		}
	}
	return n
}

func (st *state) updateQueueMetric() {
	n := 0
	for _, r := range st.rooms {
		n += len(r.queue)
	}
	st.metrics.queued.Set(float64(n))
}

func answer(ack Ack, v any) {
	if ack != nil {
		ack(v)
	}
}

// clip bounds a client-supplied string.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return s
}
