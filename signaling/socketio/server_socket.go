package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// Socket is one client connected to the server's namespace. Its methods
// are safe from any goroutine.
type Socket struct {
	srv       *Server
	c         *conn
	id, pid   string
	auth      json.RawMessage
	recovered bool
	connected atomic.Bool
	// abandoned: leaving keeps no session for recovery (Abandon,
	// ForgetOnLeave).
	abandoned atomic.Bool

	rooms map[string]struct{} // guarded by srv.mu

	mu     sync.Mutex // guards the fields below
	data   any
	nextID int64
	acks   map[int64]*pendingAck
}

type pendingAck struct {
	fn    func(Args, error)
	timer clockwork.Timer
}

// ID is the socket id; it survives a recovered reconnection.
func (s *Socket) ID() string { return s.id }

// Recovered reports whether this connection restored a lost session (same
// id, rooms and data; missed broadcasts were replayed).
func (s *Socket) Recovered() bool { return s.recovered }

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool { return s.connected.Load() }

// Auth is the CONNECT auth payload ("{}" when absent).
func (s *Socket) Auth() json.RawMessage { return s.auth }

// Request is the Engine.IO handshake request (headers, query, RemoteAddr).
func (s *Socket) Request() *http.Request { return s.c.es.Request() }

// RemoteAddr is the client's address as the handshake request saw it.
func (s *Socket) RemoteAddr() string { return s.c.es.RemoteAddr() }

// Transport is the Engine.IO transport in use: "polling" or "websocket".
func (s *Socket) Transport() string { return s.c.es.Transport() }

// Data returns the socket's data: what Authorize returned, restored on
// recovery, or what SetData stored.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData replaces the socket's data; it is kept for recovery.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if !s.connected.Load() {
		return
	}
	for _, r := range rooms {
		s.srv.joinLocked(s, r)
	}
}

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	for _, r := range rooms {
		s.srv.leaveLocked(s, r)
	}
}

// Rooms lists the socket's rooms, sorted; its own id is one of them.
func (s *Socket) Rooms() []string {
	s.srv.mu.Lock()
	out := make([]string, 0, len(s.rooms)+1)
	out = append(out, s.id)
	for r := range s.rooms {
		out = append(out, r)
	}
	s.srv.mu.Unlock()
	sort.Strings(out)
	return out
}

// In reports whether the socket is in room.
func (s *Socket) In(room string) bool {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	return s.inLocked(room)
}

// inLocked reports whether the socket is in room; srv.mu is held. Its own
// id is a room it is always in, kept implicit: a map for a room of one per
// socket was ~120 bytes of every idle device (issue 17 §4).
func (s *Socket) inLocked(room string) bool {
	if room == s.id {
		return true
	}
	_, ok := s.rooms[room]
	return ok
}

// To selects the sockets in rooms except this one (socket.to(room)).
func (s *Socket) To(rooms ...string) Broadcast {
	return Broadcast{srv: s.srv, rooms: append([]string(nil), rooms...), except: []string{s.id}}
}

// Broadcast selects every socket except this one (socket.broadcast).
func (s *Socket) Broadcast() Broadcast {
	return Broadcast{srv: s.srv, except: []string{s.id}}
}

// Emit sends an event to this socket only. Like socket.emit in socket.io,
// it carries no recovery offset and is not replayed after a recovery.
// []byte arguments (also nested in maps and slices) travel as binary.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := eventPacket(event, args)
	if err != nil {
		return err
	}
	return s.send(p)
}

// EmitVolatile sends an event to this socket only if its connection can
// take it now (socket.io's volatile flag): it is not logged for recovery,
// and a peer that does not keep up loses it (an error wrapping
// engineio.ErrDropped) instead of being disconnected. For traffic relayed
// for another client, which must never cost this socket its connection.
func (s *Socket) EmitVolatile(event string, args ...any) error {
	p, err := eventPacket(event, args)
	if err != nil {
		return err
	}
	if !s.connected.Load() {
		return fmt.Errorf("socketio: send to %s: %w", s.id, ErrNotConnected)
	}
	if err := s.c.trySendPacket(p); err != nil {
		return fmt.Errorf("socketio: volatile send to %s: %w", s.id, err)
	}
	return nil
}

// EmitWithAckFunc sends an event asking for an acknowledgement; fn gets the
// client's answer, or ErrAckTimeout after timeout (AckTimeout when zero),
// or ErrNotConnected when the socket leaves first. fn runs on the socket's
// reader goroutine or a timer's; it must not block.
func (s *Socket) EmitWithAckFunc(event string, timeout time.Duration, fn func(Args, error), args ...any) error {
	p, err := eventPacket(event, args)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = s.srv.cfg.AckTimeout
	}
	s.mu.Lock()
	if !s.connected.Load() {
		s.mu.Unlock()
		return fmt.Errorf("socketio: emit %s to %s: %w", event, s.id, ErrNotConnected)
	}
	id := s.nextID
	s.nextID++
	p.ID = id
	pa := &pendingAck{fn: fn}
	if s.acks == nil {
		s.acks = make(map[int64]*pendingAck)
	}
	s.acks[id] = pa
	pa.timer = s.srv.clk.AfterFunc(timeout, func() {
		if s.takeAck(id) != nil {
			fn(Args{}, fmt.Errorf("socketio: %s: %w", event, ErrAckTimeout))
		}
	})
	s.mu.Unlock()
	if err := s.send(p); err != nil {
		if s.takeAck(id) != nil {
			pa.timer.Stop()
		}
		return err
	}
	return nil
}

// EmitWithAck sends an event and waits for the client's acknowledgement
// until ctx ends (AckTimeout when ctx has no deadline). Never call it from
// a handler of the same socket: its answer is read by the goroutine that
// the handler occupies, so it would only time out.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	timeout := s.srv.cfg.AckTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = s.srv.clk.Until(dl)
	}
	type result struct {
		args Args
		err  error
	}
	ch := make(chan result, 1)
	if err := s.EmitWithAckFunc(event, timeout, func(a Args, err error) { ch <- result{a, err} }, args...); err != nil {
		return Args{}, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		return Args{}, fmt.Errorf("socketio: %s: %w", event, ctx.Err())
	}
}

func (s *Socket) takeAck(id int64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.acks[id]
	if pa != nil {
		delete(s.acks, id)
	}
	return pa
}

// Disconnect sends DISCONNECT and removes the socket (reason "server
// namespace disconnect", never recovered). With close the whole Engine.IO
// connection is closed too, after what was queued.
func (s *Socket) Disconnect(close bool) {
	// Detach first: a transport closing in reaction to the DISCONNECT must
	// not make the socket leave with a recoverable reason.
	s.c.mu.Lock()
	if s.c.sock == s {
		s.c.sock = nil
	}
	s.c.mu.Unlock()
	if s.connected.Load() {
		_ = s.c.sendPacket(&Packet{Type: Disconnect, Namespace: "/", ID: NoID})
	}
	s.leave(ReasonServerDisconnect)
	if close {
		_ = s.c.es.Close()
	}
}

// CloseTransport closes the socket's Engine.IO connection without a
// DISCONNECT (socket.conn.close() in socket.io): the socket leaves with
// "forced close", which is recoverable, and the client reconnects.
func (s *Socket) CloseTransport() { _ = s.c.es.Close() }

// Abandon closes the socket's Engine.IO connection without a DISCONNECT
// and without keeping its session for recovery: the client reconnects by
// itself (a transport close) and starts a new session, with a new id and
// its connect-time work (room:join) done again. A hub node uses it when
// the room behind the socket has moved to another node (issue 17).
func (s *Socket) Abandon() {
	s.ForgetOnLeave()
	_ = s.c.es.Close()
}

// ForgetOnLeave keeps no session for recovery when the socket leaves, for
// a socket with nothing worth restoring: a device the hub refused (busy,
// expired or foreign session) connects afresh anyway. A refused reconnect
// storm otherwise left a recovery session per refusal for the whole window,
// most of a hub's memory after the storm (issue 17 §4).
func (s *Socket) ForgetOnLeave() { s.abandoned.Store(true) }

// send queues p on this socket's connection.
func (s *Socket) send(p *Packet) error {
	if !s.connected.Load() {
		return fmt.Errorf("socketio: send to %s: %w", s.id, ErrNotConnected)
	}
	if err := s.c.sendPacket(p); err != nil {
		return fmt.Errorf("socketio: send to %s: %w", s.id, err)
	}
	return nil
}

func eventPacket(event string, args []any) (*Packet, error) {
	data, bufs, err := EncodeArgs(event, args)
	if err != nil {
		return nil, err
	}
	p := &Packet{Type: Event, Namespace: "/", ID: NoID, Data: data, Attachments: bufs}
	if len(bufs) > 0 {
		p.Type = BinaryEvent
	}
	return p, nil
}

// onEvent runs the event's handler on the reader goroutine.
func (s *Socket) onEvent(p *Packet) {
	name, args, err := ParseArgs(p.Data, p.Attachments, true)
	if err != nil {
		s.srv.log.Debug("bad event", "id", s.id, "err", err)
		return
	}
	h := s.srv.handler(name)
	s.srv.log.Debug("event", "id", s.id, "event", name, "ack", p.ID, "handled", h != nil)
	if h == nil {
		return
	}
	var ack func(...any)
	if p.ID >= 0 {
		id := p.ID
		var once sync.Once
		ack = func(args ...any) {
			once.Do(func() {
				data, bufs, err := EncodeArgs("", args)
				if err != nil {
					s.srv.log.Warn("ack encode", "id", s.id, "err", err)
					return
				}
				a := &Packet{Type: Ack, Namespace: "/", ID: id, Data: data, Attachments: bufs}
				if len(bufs) > 0 {
					a.Type = BinaryAck
				}
				_ = s.send(a)
			})
		}
	}
	h(s, args, ack)
}

func (s *Socket) onAck(p *Packet) {
	pa := s.takeAck(p.ID)
	if pa == nil {
		return // late (timed out) or unknown
	}
	pa.timer.Stop()
	_, args, err := ParseArgs(p.Data, p.Attachments, false)
	pa.fn(args, err)
}

// leave removes a socket once: OnDisconnecting (still in its rooms), keep
// the session for recovery when reason allows it, leave every room, fail
// pending acks, OnDisconnect.
func (s *Socket) leave(reason DisconnectReason) {
	if !s.connected.CompareAndSwap(true, false) {
		return
	}
	srv := s.srv
	if srv.cfg.OnDisconnecting != nil {
		srv.cfg.OnDisconnecting(s, reason)
	}
	data := s.Data()
	srv.mu.Lock()
	if !srv.cfg.Recovery.Disabled && reason.Recoverable() && !s.abandoned.Load() {
		rooms := make([]string, 0, len(s.rooms)+1)
		rooms = append(rooms, s.id)
		for r := range s.rooms {
			rooms = append(rooms, r)
		}
		srv.rec.persist(&session{sid: s.id, pid: s.pid, rooms: rooms, data: data, at: srv.clk.Now()})
	}
	for r := range s.rooms {
		srv.leaveLocked(s, r)
	}
	if srv.sockets[s.id] == s {
		delete(srv.sockets, s.id)
	}
	srv.mu.Unlock()
	s.mu.Lock()
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	for _, pa := range acks {
		pa.timer.Stop()
		pa.fn(Args{}, fmt.Errorf("socketio: socket %s left (%s) before the ack: %w", s.id, reason, ErrNotConnected))
	}
	srv.log.Debug("socket disconnected", "id", s.id, "reason", reason)
	if srv.cfg.OnDisconnect != nil {
		srv.cfg.OnDisconnect(s, reason)
	}
}

// Broadcast selects sockets for an emit: those in any of its rooms (every
// socket when it names none) and in none of its excepted rooms. It is a
// value; To and Except return changed copies.
type Broadcast struct {
	srv    *Server
	rooms  []string
	except []string
}

// To adds rooms to the selection.
func (b Broadcast) To(rooms ...string) Broadcast {
	b.rooms = append(append([]string(nil), b.rooms...), rooms...)
	return b
}

// Except excludes the sockets in rooms (a socket id is a room).
func (b Broadcast) Except(rooms ...string) Broadcast {
	b.except = append(append([]string(nil), b.except...), rooms...)
	return b
}

// targetsLocked lists the selected sockets; srv.mu is held.
func (b Broadcast) targetsLocked() []*Socket {
	srv := b.srv
	var out []*Socket
	excluded := func(s *Socket) bool {
		for _, r := range b.except {
			if s.inLocked(r) {
				return true
			}
		}
		return false
	}
	if len(b.rooms) == 0 {
		out = make([]*Socket, 0, len(srv.sockets))
		for _, s := range srv.sockets {
			if !excluded(s) {
				out = append(out, s)
			}
		}
		return out
	}
	var seen map[*Socket]struct{}
	if len(b.rooms) > 1 {
		seen = make(map[*Socket]struct{})
	}
	add := func(s *Socket) {
		if seen != nil {
			if _, dup := seen[s]; dup {
				return
			}
			seen[s] = struct{}{}
		}
		if !excluded(s) {
			out = append(out, s)
		}
	}
	for _, r := range b.rooms {
		if s := srv.sockets[r]; s != nil {
			add(s) // a socket id: the socket's implicit room
		}
		for s := range srv.rooms[r] {
			add(s)
		}
	}
	return out
}

// Sockets lists the selected sockets.
func (b Broadcast) Sockets() []*Socket {
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	return b.targetsLocked()
}

// Emit sends an event to the selected sockets, encoded once. With recovery
// on, the packet gets an offset as its last argument and is kept for the
// recovery window, so a socket that reconnects in time gets it replayed
// (socket.io 4.8's session-aware adapter). A socket whose connection
// cannot take it is skipped; the first such error is returned.
func (b Broadcast) Emit(event string, args ...any) error {
	srv := b.srv
	rec := !srv.cfg.Recovery.Disabled
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var off string
	if rec {
		off = srv.rec.nextOffset()
		args = append(args[:len(args):len(args)], off)
	}
	p, err := eventPacket(event, args)
	if err != nil {
		if rec {
			srv.rec.cancelOffset()
		}
		return err
	}
	text := p.AppendText(make([]byte, 0, 16+len(p.Data)))
	if rec {
		srv.rec.append(&logged{offset: off, rooms: b.rooms, except: b.except, text: text,
			attachments: p.Attachments, at: srv.clk.Now()}, srv.clk.Now(), srv.cfg.Recovery.Window, srv.cfg.Recovery.MaxPackets, srv.cfg.Recovery.MaxBytes)
	}
	// Sending under mu keeps every socket's order equal to the log's;
	// engineio.Session.Send never blocks nor calls back into this package.
	var first error
	for _, s := range b.targetsLocked() {
		if err := s.c.sendEncoded(text, p.Attachments); err != nil && first == nil && !errors.Is(err, ErrNotConnected) {
			first = err
		}
	}
	return first
}
