package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"tether/signaling/hub/auth"
	"tether/signaling/socketio/redisadapter"
)

// The hub on several nodes (issue 17). Each room lives on one node, its
// home: that node's loop owns the room exactly as on a single hub (state.go
// is unchanged). A socket connected to another node is a remote member
// there: its node forwards its connect, events and disconnect to the home,
// and the home reaches the socket through the Socket.IO Redis adapter
// (redisadapter: an emit to the room named by the socket id, a
// disconnectSockets), so the wire between nodes is the official adapter's
// protocol; hub-to-hub messages are its serverSideEmit of "tether:hub".
//
// Presence in Redis (after the store's prefix):
//
//	node:<id>       "1" with a TTL of NodeTTL, renewed every NodeTTL/3:
//	                the node is alive
//	room-home:<id>  the room's home node (no TTL: valid while that node
//	                is alive; a node takes over a room whose home is dead)
//
// A node that dies stops renewing its key; within NodeTTL the homes of
// rooms with its members remove them (no ghost members), and the nodes
// with sockets whose home it was close those sockets' transports: the
// clients reconnect, and their rooms get a new home on rejoin. A restarted
// node has a new id and takes part again at once.

// ClusterConfig configures the hub's cluster mode (Config.Redis set).
type ClusterConfig struct {
	// NodeTTL is how long a silent node counts as alive (default 10 s):
	// how soon a dead node's members are gone from their rooms.
	NodeTTL time.Duration
	// Prefix starts the hub's Redis keys (default "tether:", as the
	// store's) and Key the adapter's channels (default "socket.io").
	Prefix, Key string
}

const evHub = "tether:hub"

// envelope is one hub-to-hub message (serverSideEmit "tether:hub").
type envelope struct {
	To   string `json:"to"`
	From string `json:"from"`
	// Kind: connect, disconnect, event, ack, moved, revoke.
	Kind        string          `json:"kind"`
	SID         string          `json:"sid,omitempty"`
	P           *Principal      `json:"p,omitempty"`
	Recovered   bool            `json:"recovered,omitempty"`
	Recoverable bool            `json:"recoverable,omitempty"`
	Name        string          `json:"name,omitempty"`
	Arg         json.RawMessage `json:"arg,omitempty"`
	Ref         string          `json:"ref,omitempty"`
	Account     string          `json:"account,omitempty"`
}

// fwd is a socket on this node whose room's home is another node.
type fwd struct {
	home string
	p    Principal
	conn Conn
}

type cluster struct {
	h    *Hub
	cfg  ClusterConfig
	log  *slog.Logger
	rc   *redis.Client
	ad   *redisadapter.Adapter
	node string
	out  chan func(context.Context) // publishes, in order, off the loop

	mu     sync.Mutex
	fwds   map[string]*fwd            // by socket id
	acks   map[string]Ack             // forwarded events awaiting the home's answer
	remote map[string]map[string]bool // node → socket ids homed here
	homed  map[string]bool            // rooms this node claimed
	seq    uint64

	degraded atomic.Bool
	// grace: after Redis comes back, other nodes get one NodeTTL to renew
	// their presence before any is taken for dead (owned by run).
	grace    time.Time
	mDegr    prometheus.Gauge
	mFwd     *prometheus.CounterVec
	mDropped prometheus.Counter
}

func newCluster(h *Hub, rawURL string, cfg ClusterConfig) (*cluster, error) {
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = 10 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tether:"
	}
	srv, ok := h.sio.(*sioServer)
	if !ok {
		return nil, fmt.Errorf("hub: cluster needs the Socket.IO server: %w", ErrConfig)
	}
	rc, err := auth.NewRedisClient(rawURL, "tether-hub-cluster", 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("hub: %w: %w", err, ErrConfig)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	c := &cluster{h: h, cfg: cfg, rc: rc, node: hex.EncodeToString(b),
		out: make(chan func(context.Context), 8192), fwds: map[string]*fwd{}, acks: map[string]Ack{},
		remote: map[string]map[string]bool{}, homed: map[string]bool{}}
	c.log = h.log.With("node", c.node)
	c.ad = redisadapter.New(srv.srv, c.rc, redisadapter.Config{Key: cfg.Key, Logger: h.cfg.Logger})
	c.ad.OnServerSideEmit(c.onServerSideEmit)
	c.mDegr = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_hub_cluster_degraded",
		Help: "1 while this node cannot reach Redis: it keeps serving the sockets and calls it holds, nothing across nodes."})
	c.mFwd = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_cluster_messages_total",
		Help: "Hub-to-hub messages by direction and kind."}, []string{"dir", "kind"})
	c.mDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_hub_cluster_dropped_total",
		Help: "Messages to other nodes dropped because the outgoing queue was full (Redis too slow or gone)."})
	h.m.reg.MustRegister(c.mDegr, c.mFwd, c.mDropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_hub_cluster_forwarded_sockets",
			Help: "Sockets on this node whose room lives on another node."}, func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return float64(len(c.fwds))
		}))
	return c, nil
}

func (c *cluster) key(parts ...string) string {
	k := c.cfg.Prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

func (c *cluster) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Second)
}

// run subscribes, keeps this node's presence and watches the others'
// until ctx ends.
func (c *cluster) run(ctx context.Context) {
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			err := c.ad.Run(ctx, func() { close(ready) })
			if ctx.Err() != nil {
				break
			}
			// The first subscribe failed (Redis down at start): again.
			c.setDegraded(true, err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			ready = make(chan struct{})
		}
	}()
	go func() { defer wg.Done(); c.publisher(ctx) }()
	t := time.NewTicker(c.cfg.NodeTTL / 3)
	defer t.Stop()
	for {
		c.beat()
		select {
		case <-ctx.Done():
			wg.Wait()
			// Leave at once rather than after NodeTTL: the others drop our
			// members and take our rooms on their next check.
			dctx, cancel := c.ctx()
			c.rc.Del(dctx, c.key("node", c.node))
			cancel()
			c.rc.Close()
			return
		case <-t.C:
		}
	}
}

// publisher sends the queued messages to Redis one at a time, so the
// loop never waits for Redis and a socket's messages keep their order.
func (c *cluster) publisher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-c.out:
			pctx, cancel := c.ctx()
			f(pctx)
			cancel()
		}
	}
}

// enqueue queues a publish; when the queue is full (Redis gone) it is
// dropped and counted.
func (c *cluster) enqueue(f func(context.Context)) {
	select {
	case c.out <- f:
	default:
		c.mDropped.Inc()
	}
}

func (c *cluster) setDegraded(on bool, err error) {
	if c.degraded.Swap(on) != on {
		if on {
			c.log.Warn("redis unreachable: serving the sockets and calls on this node only", "err", err)
			c.mDegr.Set(1)
		} else {
			c.log.Info("redis reachable again")
			c.mDegr.Set(0)
		}
	}
}

// beat renews this node's presence, releases rooms it no longer holds
// and checks the nodes it shares sockets with.
func (c *cluster) beat() {
	ctx, cancel := c.ctx()
	defer cancel()
	err := c.rc.Set(ctx, c.key("node", c.node), "1", c.cfg.NodeTTL).Err()
	was := c.degraded.Load()
	c.setDegraded(err != nil, err)
	if err != nil {
		return
	}
	if was {
		c.grace = time.Now().Add(c.cfg.NodeTTL)
		c.reconcile()
	}
	c.releaseRooms(ctx)
	if time.Now().Before(c.grace) {
		return
	}
	c.mu.Lock()
	nodes := map[string]bool{}
	for n := range c.remote {
		nodes[n] = true
	}
	for _, f := range c.fwds {
		nodes[f.home] = true
	}
	c.mu.Unlock()
	for n := range nodes {
		alive, err := c.alive(ctx, n)
		if err != nil || alive {
			continue
		}
		c.nodeLost(n)
	}
}

func (c *cluster) alive(ctx context.Context, node string) (bool, error) {
	if node == c.node {
		return true, nil
	}
	n, err := c.rc.Exists(ctx, c.key("node", node)).Result()
	return n == 1, err
}

// nodeLost drops what this node shares with a dead node: its members of
// rooms homed here leave at once (no ghosts), and this node's sockets
// whose home it was lose their transport, so their clients reconnect and
// rejoin on a live home.
func (c *cluster) nodeLost(node string) {
	c.mu.Lock()
	sids := c.remote[node]
	delete(c.remote, node)
	var conns []Conn
	for sid, f := range c.fwds {
		if f.home == node {
			conns = append(conns, f.conn)
			delete(c.fwds, sid)
		}
	}
	c.mu.Unlock()
	c.log.Warn("node lost", "lost", node, "members", len(sids), "sockets", len(conns))
	for sid := range sids {
		c.h.do(func(st *state) { st.disconnected(sid, false) })
	}
	for _, conn := range conns {
		abandon(conn)
	}
}

// abandon makes a socket's client start over (a new session that joins
// again) without the DISCONNECT that would stop a browser's socket.io
// client from reconnecting.
func abandon(conn Conn) {
	if a, ok := conn.(interface{ Abandon() }); ok {
		a.Abandon()
		return
	}
	conn.Close()
}

// reconcile runs when Redis is back: the rooms this node served alone
// are claimed again, and where another node took a room over meanwhile
// (this node counted as dead) the members here start over on that home,
// so every room has one home again.
func (c *cluster) reconcile() {
	rooms := map[string][]Conn{}
	if !c.h.call(func(st *state) {
		for _, m := range st.members {
			rooms[m.p.RoomID] = append(rooms[m.p.RoomID], m.conn)
		}
	}) {
		return
	}
	moved := 0
	for room, conns := range rooms {
		if c.home(room) == c.node {
			continue
		}
		for _, conn := range conns {
			if _, remote := conn.(remoteConn); !remote {
				abandon(conn)
				moved++
			}
		}
	}
	c.log.Info("redis back: rooms reconciled", "rooms", len(rooms), "socketsMoved", moved)
}

// releaseRooms gives up the homes of rooms this node no longer holds.
func (c *cluster) releaseRooms(ctx context.Context) {
	var live map[string]bool
	if !c.h.call(func(st *state) {
		live = make(map[string]bool, len(st.rooms)+len(st.members))
		for id := range st.rooms {
			live[id] = true
		}
		for _, m := range st.members {
			live[m.p.RoomID] = true
		}
	}) {
		return
	}
	c.mu.Lock()
	var gone []string
	for r := range c.homed {
		if !live[r] {
			gone = append(gone, r)
			delete(c.homed, r)
		}
	}
	c.mu.Unlock()
	for _, r := range gone {
		releaseScript.Run(ctx, c.rc, []string{c.key("room-home", r)}, c.node)
	}
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// takeoverScript makes ARGV[1] the room's home if it has none or its home
// is still ARGV[2] (found dead).
var takeoverScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[2] then redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1] end
return cur`)

// home returns the room's home node, claiming the room when it has none
// or its home is dead. Without Redis the room is served here (degraded).
func (c *cluster) home(room string) string {
	ctx, cancel := c.ctx()
	defer cancel()
	k := c.key("room-home", room)
	for range 4 {
		cur, err := c.rc.Get(ctx, k).Result()
		if err != nil && err != redis.Nil {
			c.setDegraded(true, err)
			return c.node
		}
		if cur == c.node {
			c.claimed(room)
			return cur
		}
		if cur != "" {
			alive, err := c.alive(ctx, cur)
			if err != nil {
				return c.node
			}
			if alive {
				return cur
			}
		}
		got, err := takeoverScript.Run(ctx, c.rc, []string{k}, c.node, cur).Text()
		if err != nil {
			return c.node
		}
		if got == c.node {
			c.claimed(room)
			return got
		}
	}
	return c.node
}

func (c *cluster) claimed(room string) {
	c.mu.Lock()
	c.homed[room] = true
	c.mu.Unlock()
}

// ---- the socket's node ----

// connected routes a new socket: to the loop when its room lives here,
// else to the room's home. It reports whether it took the socket.
func (c *cluster) connected(conn Conn, p Principal, recovered bool) bool {
	home := c.home(p.RoomID)
	if home == c.node {
		return false
	}
	c.mu.Lock()
	c.fwds[conn.ID()] = &fwd{home: home, p: p, conn: conn}
	c.mu.Unlock()
	c.send(envelope{To: home, Kind: "connect", SID: conn.ID(), P: &p, Recovered: recovered})
	return true
}

func (c *cluster) forwarded(sid string) *fwd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fwds[sid]
}

// disconnected forwards a socket's departure; false when its room lives
// here.
func (c *cluster) disconnected(conn Conn, recoverable bool) bool {
	c.mu.Lock()
	f := c.fwds[conn.ID()]
	delete(c.fwds, conn.ID())
	c.mu.Unlock()
	if f == nil {
		return false
	}
	c.send(envelope{To: f.home, Kind: "disconnect", SID: conn.ID(), Recoverable: recoverable})
	return true
}

// event forwards a socket's event with its acknowledgement; false when
// its room lives here.
func (c *cluster) event(conn Conn, name string, arg json.RawMessage, ack Ack) bool {
	f := c.forwarded(conn.ID())
	if f == nil {
		return false
	}
	e := envelope{To: f.home, Kind: "event", SID: conn.ID(), P: &f.p, Name: name, Arg: arg}
	if ack != nil {
		c.mu.Lock()
		c.seq++
		e.Ref = fmt.Sprintf("%s-%d", conn.ID(), c.seq)
		c.acks[e.Ref] = ack
		c.mu.Unlock()
		// An answer that never comes (the home died) must not pin the
		// entry: the client's own ack timeout has long passed by then.
		time.AfterFunc(time.Minute, func() { c.mu.Lock(); delete(c.acks, e.Ref); c.mu.Unlock() })
	}
	c.send(e)
	return true
}

// revoked tells every node to expire the account's devices.
func (c *cluster) revoked(account string) {
	c.send(envelope{Kind: "revoke", Account: account})
}

func (c *cluster) send(e envelope) {
	e.From = c.node
	c.mFwd.WithLabelValues("out", e.Kind).Inc()
	c.enqueue(func(ctx context.Context) {
		if err := c.ad.ServerSideEmit(ctx, evHub, e); err != nil {
			c.log.Debug("hub message not sent", "kind", e.Kind, "err", err)
		}
	})
}

// onServerSideEmit handles the other nodes' messages (the adapter's
// subscriber goroutine: in order, never blocking on the loop for long).
func (c *cluster) onServerSideEmit(event string, args []json.RawMessage) {
	if event != evHub || len(args) == 0 {
		return
	}
	var e envelope
	if err := json.Unmarshal(args[0], &e); err != nil || e.From == c.node || (e.To != "" && e.To != c.node) {
		return
	}
	c.mFwd.WithLabelValues("in", e.Kind).Inc()
	h := c.h
	switch e.Kind {
	case "connect":
		if e.P == nil {
			return
		}
		if c.home(e.P.RoomID) != c.node {
			// The room moved (this node lost it): the socket starts over.
			c.send(envelope{To: e.From, Kind: "moved", SID: e.SID})
			return
		}
		c.mu.Lock()
		if c.remote[e.From] == nil {
			c.remote[e.From] = map[string]bool{}
		}
		c.remote[e.From][e.SID] = true
		c.mu.Unlock()
		rc := remoteConn{c: c, node: e.From, id: e.SID}
		p := *e.P
		h.do(func(st *state) { st.connected(rc, p, e.Recovered) })
	case "disconnect":
		c.mu.Lock()
		delete(c.remote[e.From], e.SID)
		c.mu.Unlock()
		h.do(func(st *state) { st.disconnected(e.SID, e.Recoverable) })
	case "event":
		if e.P == nil {
			return
		}
		var ack Ack
		if e.Ref != "" {
			from, ref := e.From, e.Ref
			ack = func(v any) {
				raw, err := json.Marshal(v)
				if err != nil {
					return
				}
				c.send(envelope{To: from, Kind: "ack", Ref: ref, Arg: raw})
			}
		}
		rc := remoteConn{c: c, node: e.From, id: e.SID}
		// Event does its store work here and queues the room work: the
		// next message waits for the store, not for the loop.
		h.Event(rc, *e.P, e.Name, e.Arg, ack)
	case "ack":
		c.mu.Lock()
		ack := c.acks[e.Ref]
		delete(c.acks, e.Ref)
		c.mu.Unlock()
		if ack != nil {
			ack(e.Arg)
		}
	case "moved":
		if f := c.forwarded(e.SID); f != nil {
			c.mu.Lock()
			delete(c.fwds, e.SID)
			c.mu.Unlock()
			abandon(f.conn)
		}
	case "revoke":
		h.call(func(st *state) { st.expireAccount(e.Account) })
	}
}

// remoteConn is a member whose socket is on another node: emits and
// disconnects travel through the adapter to the socket's own room.
type remoteConn struct {
	c    *cluster
	node string
	id   string
}

func (r remoteConn) ID() string        { return r.id }
func (r remoteConn) Transport() string { return "remote" }

func (r remoteConn) Emit(event string, arg any) { r.emit(event, arg, false) }

// EmitVolatile cannot know whether the far socket could take it: it
// reports true unless the queue to Redis is full.
func (r remoteConn) EmitVolatile(event string, arg any) bool { return r.emit(event, arg, true) }

func (r remoteConn) emit(event string, arg any, volatile bool) bool {
	// Encoded now: the loop may change arg's maps after Emit returns.
	raw, err := json.Marshal(arg)
	if err != nil {
		return false
	}
	r.c.mFwd.WithLabelValues("out", "emit").Inc()
	select {
	case r.c.out <- func(ctx context.Context) {
		if err := r.c.ad.Emit(ctx, []string{r.id}, nil, volatile, event, json.RawMessage(raw)); err != nil {
			r.c.log.Debug("emit to a remote socket failed", "event", event, "err", err)
		}
	}:
		return true
	default:
		r.c.mDropped.Inc()
		return false
	}
}

// JoinRoom and LeaveRoom reach the socket on its node through the
// adapter's REMOTE_JOIN and REMOTE_LEAVE (conn.go, roomMember).
func (r remoteConn) JoinRoom(room string) {
	r.c.enqueue(func(ctx context.Context) { _ = r.c.ad.SocketsJoin(ctx, []string{r.id}, room) })
}

func (r remoteConn) LeaveRoom(room string) {
	r.c.enqueue(func(ctx context.Context) { _ = r.c.ad.SocketsLeave(ctx, []string{r.id}, room) })
}

// roomcast sends an event to the sockets of the Socket.IO room on every
// server but the hub's own members (except), which get theirs one by one:
// a Node socket.io server's sockets in the room (issue 17 §2).
func (c *cluster) roomcast(room string, except []string, event string, arg any) {
	raw, err := json.Marshal(arg)
	if err != nil {
		return
	}
	c.enqueue(func(ctx context.Context) {
		if err := c.ad.Emit(ctx, []string{room}, except, false, event, json.RawMessage(raw)); err != nil {
			c.log.Debug("room broadcast failed", "room", room, "event", event, "err", err)
		}
	})
}

func (r remoteConn) Disconnect() { r.disconnect(false) }
func (r remoteConn) Close()      { r.disconnect(true) }

func (r remoteConn) disconnect(close bool) {
	r.c.enqueue(func(ctx context.Context) {
		_ = r.c.ad.DisconnectSockets(ctx, []string{r.id}, close)
	})
}

// healthz is GET /healthz: "ok", or "degraded" (still 200: every node is
// degraded when Redis is down, and a load balancer that took them all out
// would end the calls each still carries).
func (h *Hub) healthz() string {
	if h.cl != nil && h.cl.degraded.Load() {
		return "degraded: redis unreachable\n"
	}
	return "ok\n"
}

// Node is this hub's node id in a cluster ("" without Redis).
func (h *Hub) Node() string {
	if h.cl == nil {
		return ""
	}
	return h.cl.node
}
