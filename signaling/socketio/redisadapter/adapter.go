// Package redisadapter lets several Socket.IO servers share rooms and
// broadcasts through Redis by speaking the official Socket.IO Redis
// adapter's protocol (@socket.io/redis-adapter 8.3, its dist/index.js), so
// Go servers and Node socket.io servers with that adapter form one
// cluster (issue 17):
//
//   - a broadcast is published, msgpack-encoded as [uid, packet, opts], on
//     "<key>#/#" or, for exactly one room, "<key>#/#<room>#"; every server
//     pattern-subscribes to "<key>#/#*", drops its own uid and delivers the
//     packet to its sockets in opts.rooms minus opts.except;
//   - requests between servers are JSON on "<key>-request#/#" (socket ids
//     in rooms, all rooms, join/leave/disconnect by room, fetchSockets,
//     serverSideEmit) and their answers JSON on "<key>-response#/#";
//   - the number of servers is PUBSUB NUMSUB of the request channel.
//
// A socket id is a room, so To(id) reaches one socket wherever it is.
package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"tether/signaling/socketio"
)

// Request types of the adapter's protocol (index.js RequestType).
const (
	reqSockets          = 0
	reqAllRooms         = 1
	reqRemoteJoin       = 2
	reqRemoteLeave      = 3
	reqRemoteDisconnect = 4
	reqRemoteFetch      = 5
	reqServerSideEmit   = 6
	reqBroadcast        = 7
)

// Socket.IO packet types carried in a broadcast (socket.io-parser).
const (
	packetEvent = 2
)

// MaxMessage bounds one message read from Redis: anything on the cluster's
// channels is from another node, but a bound costs nothing.
const MaxMessage = 1 << 20

// ErrClosed is an adapter used after Run returned.
var ErrClosed = errors.New("redisadapter: closed")

// Config configures an Adapter.
type Config struct {
	// Key prefixes the channels (the adapter's opts.key, default
	// "socket.io").
	Key string
	// RequestTimeout bounds waiting for other servers' answers (the
	// adapter's requestsTimeout, default 5 s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Adapter connects one socketio.Server to the cluster. Build it with New,
// start it with Run; Emit and the requests work once Run subscribed.
type Adapter struct {
	srv *socketio.Server
	pub *redis.Client
	cfg Config
	log *slog.Logger
	uid string

	channel, reqChannel, respChannel, specificResp string

	mu       sync.Mutex
	onServer func(event string, args []json.RawMessage)
	pending  map[string]*pendingReq
}

type pendingReq struct {
	n    int
	want int
	ch   chan json.RawMessage
}

// New builds an adapter for srv on the namespace "/" publishing with pub
// (Run subscribes on its own connection from the same options).
func New(srv *socketio.Server, pub *redis.Client, cfg Config) *Adapter {
	if cfg.Key == "" {
		cfg.Key = "socket.io"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Adapter{srv: srv, pub: pub, cfg: cfg, uid: uid(6), pending: map[string]*pendingReq{},
		log: cfg.Logger.With("component", "socketio/redisadapter")}
	a.channel = cfg.Key + "#/#"
	a.reqChannel = cfg.Key + "-request#/#"
	a.respChannel = cfg.Key + "-response#/#"
	a.specificResp = a.respChannel + a.uid + "#"
	return a
}

// UID is this server's id in the cluster (the adapter's uid).
func (a *Adapter) UID() string { return a.uid }

// OnServerSideEmit sets the handler of events other servers send with
// serverSideEmit (without acknowledgement). It runs on the subscriber's
// goroutine, one message at a time: it must not block.
func (a *Adapter) OnServerSideEmit(f func(event string, args []json.RawMessage)) {
	a.mu.Lock()
	a.onServer = f
	a.mu.Unlock()
}

// uid is n random bytes as hex (the adapter uses uid2(6): 6 characters).
func uid(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

// Run subscribes and handles the cluster's messages until ctx ends. The
// go-redis subscription reconnects and subscribes again by itself when
// Redis comes back.
func (a *Adapter) Run(ctx context.Context, ready func()) error {
	sub := a.pub.PSubscribe(ctx, a.channel+"*")
	defer sub.Close()
	if err := sub.Subscribe(ctx, a.reqChannel, a.respChannel, a.specificResp); err != nil {
		return fmt.Errorf("redisadapter: subscribe: %w", err)
	}
	// Wait for the confirmations, so a broadcast published after ready
	// is seen by this server's subscription.
	for range 4 {
		if _, err := sub.Receive(ctx); err != nil {
			return fmt.Errorf("redisadapter: subscribe: %w", err)
		}
	}
	if ready != nil {
		ready()
	}
	ch := sub.Channel(redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return ErrClosed
			}
			if len(m.Payload) > MaxMessage {
				a.log.Warn("message over the bound dropped", "channel", m.Channel, "len", len(m.Payload))
				continue
			}
			if m.Pattern != "" {
				a.onBroadcast(m.Channel, []byte(m.Payload))
			} else if strings.HasPrefix(m.Channel, a.respChannel) {
				a.onResponse([]byte(m.Payload))
			} else if m.Channel == a.reqChannel {
				a.onRequest(ctx, []byte(m.Payload))
			}
		}
	}
}

// ---- broadcasts ----

// wireOpts are a broadcast's options on the wire.
type wireOpts struct {
	Rooms  []string       `msgpack:"rooms" json:"rooms"`
	Except []string       `msgpack:"except" json:"except"`
	Flags  map[string]any `msgpack:"flags,omitempty" json:"flags,omitempty"`
}

type wirePacket struct {
	Type int    `msgpack:"type"`
	Data []any  `msgpack:"data"`
	Nsp  string `msgpack:"nsp"`
	ID   *int64 `msgpack:"id,omitempty"`
}

// Emit sends an event to the sockets in any of rooms (every socket when
// none) but those in except, on every server of the cluster: published
// first, then sent to this server's own sockets. With volatile a socket
// whose connection cannot take it now is skipped (socket.io's volatile
// flag); the flag travels to the other servers.
func (a *Adapter) Emit(ctx context.Context, rooms, except []string, volatile bool, event string, args ...any) error {
	data := make([]any, 0, 1+len(args))
	data = append(data, event)
	for _, v := range args {
		g, err := generic(v)
		if err != nil {
			return fmt.Errorf("redisadapter: emit %s: %w", event, err)
		}
		data = append(data, g)
	}
	opts := wireOpts{Rooms: nonNil(rooms), Except: nonNil(except), Flags: map[string]any{}}
	if volatile {
		opts.Flags["volatile"] = true
	}
	msg, err := msgpack.Marshal([]any{a.uid, wirePacket{Type: packetEvent, Data: data, Nsp: "/"}, opts})
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	channel := a.channel
	if len(rooms) == 1 {
		channel += rooms[0] + "#"
	}
	perr := a.pub.Publish(ctx, channel, msg).Err()
	a.deliver(rooms, except, volatile, event, args)
	if perr != nil {
		return fmt.Errorf("redisadapter: publish: %w", perr)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// deliver sends an event to this server's selected sockets.
func (a *Adapter) deliver(rooms, except []string, volatile bool, event string, args []any) {
	b := a.srv.To(rooms...).Except(except...)
	if !volatile {
		_ = b.Emit(event, args...)
		return
	}
	for _, s := range b.Sockets() {
		_ = s.EmitVolatile(event, args...)
	}
}

// onBroadcast handles a message on the broadcast channels.
func (a *Adapter) onBroadcast(channel string, raw []byte) {
	if !strings.HasPrefix(channel, a.channel) {
		return
	}
	// A room's own channel: skip the decoding when no socket here is in it.
	if room := strings.TrimSuffix(channel[len(a.channel):], "#"); room != "" && len(a.srv.To(room).Sockets()) == 0 {
		return
	}
	var msg []msgpack.RawMessage
	if err := msgpack.Unmarshal(raw, &msg); err != nil || len(msg) < 3 {
		a.log.Debug("malformed broadcast dropped", "err", err)
		return
	}
	var from string
	var p wirePacketIn
	var opts wireOpts
	if msgpack.Unmarshal(msg[0], &from) != nil || from == a.uid {
		return
	}
	if err := msgpack.Unmarshal(msg[1], &p); err != nil || (p.Nsp != "" && p.Nsp != "/") {
		return
	}
	if err := msgpack.Unmarshal(msg[2], &opts); err != nil {
		return
	}
	if p.Type != packetEvent || len(p.Data) == 0 {
		// Binary events and others: the hub sends none.
		a.log.Debug("broadcast of an unsupported packet type dropped", "type", p.Type)
		return
	}
	event, ok := p.Data[0].(string)
	if !ok {
		return
	}
	volatile, _ := opts.Flags["volatile"].(bool)
	a.deliver(opts.Rooms, opts.Except, volatile, event, p.Data[1:])
}

type wirePacketIn struct {
	Type int    `msgpack:"type"`
	Data []any  `msgpack:"data"`
	Nsp  string `msgpack:"nsp"`
}

// generic turns v into what msgpack and JSON encode alike: v's JSON form
// decoded into maps, slices, strings, bools and numbers (integral numbers
// as integers, so a JavaScript peer sees 1, not 1.0 — the same value).
func generic(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var g any
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, err
	}
	return ints(g), nil
}

func ints(v any) any {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t)
		}
	case map[string]any:
		for k, e := range t {
			t[k] = ints(e)
		}
	case []any:
		for i, e := range t {
			t[i] = ints(e)
		}
	}
	return v
}

// ---- requests ----

// request is a request between servers (the JSON the adapter publishes).
type request struct {
	UID       string            `json:"uid"`
	RequestID string            `json:"requestId,omitempty"`
	Type      int               `json:"type"`
	Rooms     []string          `json:"rooms,omitempty"`
	Opts      *wireOpts         `json:"opts,omitempty"`
	Close     bool              `json:"close,omitempty"`
	Data      []json.RawMessage `json:"data,omitempty"`
	SID       string            `json:"sid,omitempty"`
	Room      string            `json:"room,omitempty"`
}

func (a *Adapter) onRequest(ctx context.Context, raw []byte) {
	if len(raw) == 0 || raw[0] != '{' {
		// msgpack requests are broadcasts with acknowledgements, which the
		// hub does not use.
		return
	}
	var r request
	if err := json.Unmarshal(raw, &r); err != nil {
		a.log.Debug("malformed request dropped", "err", err)
		return
	}
	if r.UID == a.uid {
		return
	}
	sel := func() socketio.Broadcast {
		if r.Opts == nil {
			return a.srv.To()
		}
		return a.srv.To(r.Opts.Rooms...).Except(r.Opts.Except...)
	}
	switch r.Type {
	case reqSockets:
		var ids []string
		for _, s := range a.srv.To(r.Rooms...).Sockets() {
			ids = append(ids, s.ID())
		}
		a.respond(ctx, map[string]any{"requestId": r.RequestID, "sockets": nonNil(ids)})
	case reqAllRooms:
		seen := map[string]bool{}
		rooms := []string{}
		for _, s := range a.srv.Sockets() {
			for _, room := range s.Rooms() {
				if !seen[room] {
					seen[room] = true
					rooms = append(rooms, room)
				}
			}
		}
		a.respond(ctx, map[string]any{"requestId": r.RequestID, "rooms": rooms})
	case reqRemoteFetch:
		type fetched struct {
			ID        string         `json:"id"`
			Handshake map[string]any `json:"handshake"`
			Rooms     []string       `json:"rooms"`
			Data      any            `json:"data"`
		}
		out := []fetched{}
		for _, s := range sel().Sockets() {
			out = append(out, fetched{ID: s.ID(), Handshake: map[string]any{}, Rooms: s.Rooms()})
		}
		a.respond(ctx, map[string]any{"requestId": r.RequestID, "sockets": out})
	case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconnect:
		var socks []*socketio.Socket
		if r.Opts != nil {
			socks = sel().Sockets()
		} else if s := a.srv.Socket(r.SID); s != nil {
			socks = []*socketio.Socket{s}
		}
		rooms := r.Rooms // addSockets/delSockets name rooms; remoteJoin/Leave one room
		if r.Room != "" {
			rooms = append(rooms, r.Room)
		}
		for _, s := range socks {
			switch r.Type {
			case reqRemoteJoin:
				s.Join(rooms...)
			case reqRemoteLeave:
				s.Leave(rooms...)
			default:
				// Disconnect calls the server's handlers, which may publish.
				go s.Disconnect(r.Close)
			}
		}
		if r.Opts == nil && len(socks) > 0 {
			a.respond(ctx, map[string]any{"requestId": r.RequestID})
		}
	case reqServerSideEmit:
		if len(r.Data) == 0 {
			return
		}
		var event string
		if json.Unmarshal(r.Data[0], &event) != nil {
			return
		}
		a.mu.Lock()
		f := a.onServer
		a.mu.Unlock()
		if r.RequestID != "" {
			// With an acknowledgement: the hub sends none and answers none
			// but an empty one, so a Node server waiting for every server's
			// answer does not time out.
			a.respondTo(ctx, a.respChannel, map[string]any{"type": reqServerSideEmit, "requestId": r.RequestID, "data": nil})
		}
		if f != nil {
			f(event, r.Data[1:])
		}
	}
}

func (a *Adapter) respond(ctx context.Context, v any) { a.respondTo(ctx, a.respChannel, v) }

func (a *Adapter) respondTo(ctx context.Context, channel string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	if err := a.pub.Publish(ctx, channel, raw).Err(); err != nil {
		a.log.Debug("response not published", "err", err)
	}
}

func (a *Adapter) onResponse(raw []byte) {
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	var r struct {
		RequestID string `json:"requestId"`
	}
	if json.Unmarshal(raw, &r) != nil || r.RequestID == "" {
		return
	}
	a.mu.Lock()
	p := a.pending[r.RequestID]
	a.mu.Unlock()
	if p == nil {
		return
	}
	select {
	case p.ch <- append(json.RawMessage(nil), raw...):
	default:
	}
}

// publishRequest publishes a request.
func (a *Adapter) publishRequest(ctx context.Context, r request) error {
	r.UID = a.uid
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := a.pub.Publish(ctx, a.reqChannel, raw).Err(); err != nil {
		return fmt.Errorf("redisadapter: publish request: %w", err)
	}
	return nil
}

// ServerSideEmit sends an event to every other server of the cluster
// (io.serverSideEmit without acknowledgement).
func (a *Adapter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	data := []json.RawMessage{mustJSON(event)}
	for _, v := range args {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("redisadapter: serverSideEmit %s: %w", event, err)
		}
		data = append(data, raw)
	}
	return a.publishRequest(ctx, request{Type: reqServerSideEmit, Data: data})
}

func mustJSON(s string) json.RawMessage {
	raw, _ := json.Marshal(s)
	return raw
}

// DisconnectSockets disconnects the sockets in any of rooms on every
// server (io.in(rooms).disconnectSockets(close)).
func (a *Adapter) DisconnectSockets(ctx context.Context, rooms []string, close bool) error {
	err := a.publishRequest(ctx, request{Type: reqRemoteDisconnect, Opts: &wireOpts{Rooms: nonNil(rooms), Except: []string{}}, Close: close})
	for _, s := range a.srv.To(rooms...).Sockets() {
		go s.Disconnect(close)
	}
	return err
}

// SocketsJoin makes the sockets in any of rooms, on every server, join
// join (io.in(rooms).socketsJoin(join): the adapter's REMOTE_JOIN).
func (a *Adapter) SocketsJoin(ctx context.Context, rooms []string, join ...string) error {
	return a.remoteRooms(ctx, reqRemoteJoin, rooms, join)
}

// SocketsLeave makes the sockets in any of rooms, on every server, leave
// leave (io.in(rooms).socketsLeave(leave): REMOTE_LEAVE).
func (a *Adapter) SocketsLeave(ctx context.Context, rooms []string, leave ...string) error {
	return a.remoteRooms(ctx, reqRemoteLeave, rooms, leave)
}

func (a *Adapter) remoteRooms(ctx context.Context, typ int, rooms, change []string) error {
	err := a.publishRequest(ctx, request{Type: typ, Opts: &wireOpts{Rooms: nonNil(rooms), Except: []string{}}, Rooms: nonNil(change)})
	for _, s := range a.srv.To(rooms...).Sockets() {
		if typ == reqRemoteJoin {
			s.Join(change...)
		} else {
			s.Leave(change...)
		}
	}
	return err
}

// ServerCount is the number of servers in the cluster (PUBSUB NUMSUB of
// the request channel, as the adapter counts them).
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	m, err := a.pub.PubSubNumSub(ctx, a.reqChannel).Result()
	if err != nil {
		return 0, fmt.Errorf("redisadapter: server count: %w", err)
	}
	return int(m[a.reqChannel]), nil
}

// SocketIDs lists the ids of the sockets in any of rooms on every server
// (the adapter's SOCKETS request): this server's at once, the others'
// until each answered or RequestTimeout.
func (a *Adapter) SocketIDs(ctx context.Context, rooms ...string) ([]string, error) {
	var ids []string
	for _, s := range a.srv.To(rooms...).Sockets() {
		ids = append(ids, s.ID())
	}
	n, err := a.ServerCount(ctx)
	if err != nil || n <= 1 {
		return ids, err
	}
	id := uid(6)
	p := &pendingReq{want: n - 1, ch: make(chan json.RawMessage, n)}
	a.mu.Lock()
	a.pending[id] = p
	a.mu.Unlock()
	defer func() { a.mu.Lock(); delete(a.pending, id); a.mu.Unlock() }()
	if err := a.publishRequest(ctx, request{RequestID: id, Type: reqSockets, Rooms: nonNil(rooms)}); err != nil {
		return ids, err
	}
	t := time.NewTimer(a.cfg.RequestTimeout)
	defer t.Stop()
	for got := 0; got < p.want; got++ {
		select {
		case raw := <-p.ch:
			var r struct {
				Sockets []string `json:"sockets"`
			}
			if json.Unmarshal(raw, &r) == nil {
				ids = append(ids, r.Sockets...)
			}
		case <-t.C:
			return ids, fmt.Errorf("redisadapter: %d of %d servers answered: %w", got, p.want, context.DeadlineExceeded)
		case <-ctx.Done():
			return ids, ctx.Err()
		}
	}
	return ids, nil
}
