package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"tether/signaling"
	"tether/signaling/engineio"
	"tether/signaling/socketio"
)

// sioConn adapts a socket of socketio.Server to Conn. It holds the socket
// id, not the *Socket, because a recovered reconnection is a new *Socket
// with the same id; emits go to the socket's own room so that they are
// logged for recovery and replayed to a socket that comes back in time
// (Socket.IO connection state recovery).
type sioConn struct {
	srv *socketio.Server
	id  string
	wg  *sync.WaitGroup
}

func (c sioConn) ID() string { return c.id }

func (c sioConn) Transport() string {
	if s := c.srv.Socket(c.id); s != nil {
		return s.Transport()
	}
	return "none"
}

func (c sioConn) Emit(event string, arg any) { _ = c.srv.To(c.id).Emit(event, arg) }

func (c sioConn) EmitVolatile(event string, arg any) bool {
	s := c.srv.Socket(c.id)
	return s != nil && s.EmitVolatile(event, arg) == nil
}

// Disconnect runs on its own goroutine: Socket.Disconnect calls the
// server's OnDisconnect synchronously, which enters the hub's loop — the
// caller of Disconnect.
func (c sioConn) Disconnect() { c.disconnect(false) }

func (c sioConn) Close() { c.disconnect(true) }

// Abandon closes the transport without a DISCONNECT and without keeping
// the session for recovery: the client reconnects as a new session and
// joins again (a room that moved to another node; cluster.go).
func (c sioConn) Abandon() {
	if s := c.srv.Socket(c.id); s != nil {
		s.Abandon()
	}
}

// JoinRoom puts the socket in the Socket.IO room (conn.go, roomMember).
func (c sioConn) JoinRoom(room string) {
	if s := c.srv.Socket(c.id); s != nil {
		s.Join(room)
	}
}

// LeaveRoom takes the socket out of the Socket.IO room.
func (c sioConn) LeaveRoom(room string) {
	if s := c.srv.Socket(c.id); s != nil {
		s.Leave(room)
	}
}

// ForgetOnLeave keeps no recovery session when the socket leaves (a
// refused device connects afresh).
func (c sioConn) ForgetOnLeave() {
	if s := c.srv.Socket(c.id); s != nil {
		s.ForgetOnLeave()
	}
}

func (c sioConn) disconnect(closeTransport bool) {
	s := c.srv.Socket(c.id)
	if s == nil {
		return
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); s.Disconnect(closeTransport) }()
}

// sioServer is the Socket.IO server with the hub's handlers.
type sioServer struct {
	srv *socketio.Server
	wg  sync.WaitGroup // Disconnect goroutines
}

func (s *sioServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.srv.ServeHTTP(w, r) }

// Run sweeps recovery state until ctx ends.
func (s *sioServer) Run(ctx context.Context) error { return s.srv.Run(ctx) }

// Stats are the Engine.IO session counts (metrics).
func (s *sioServer) Stats() engineio.ServerStats { return s.srv.Engine().Stats() }

func (s *sioServer) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// events of the contract the hub handles.
var hubEvents = []string{
	signaling.EvSessionVerify, signaling.EvRoomJoin, signaling.EvCallEnded, signaling.EvSignal,
	signaling.EvKeepalive, signaling.EvDeviceStatus,
}

func newSocketServer(h *Hub) (socketServer, error) {
	s := &sioServer{}
	conn := func(sock *socketio.Socket) Conn { return sioConn{srv: s.srv, id: sock.ID(), wg: &s.wg} }
	principal := func(sock *socketio.Socket) (Principal, bool) {
		p, ok := sock.Data().(Principal)
		return p, ok
	}
	cfg := socketio.ServerConfig{
		Engine: engineio.ServerConfig{
			PingInterval: h.cfg.PingInterval, PingTimeout: h.cfg.PingTimeout,
			MaxPayload: h.cfg.MaxPayload, AllowedOrigins: h.cfg.AllowedOrigins,
			RateLimit:   max(h.cfg.RateLimit, 0),
			MaxSessions: max(h.cfg.MaxSessions, 0), MaxSessionsPerAddr: max(h.cfg.MaxSessionsPerAddr, 0),
			ClientAddr: h.clientAddr,
		},
		Authorize: func(raw json.RawMessage, req *http.Request) (any, error) {
			p, err := h.Authenticate(raw)
			if err != nil {
				return nil, err
			}
			p.Addr = h.clientAddr(req)
			return p, nil
		},
		Recovery: socketio.RecoveryConfig{Disabled: h.cfg.RecoveryWindow < 0, Window: h.cfg.RecoveryWindow},
		OnConnection: func(sock *socketio.Socket) {
			p, ok := principal(sock)
			if !ok {
				sock.Disconnect(true)
				return
			}
			h.Connected(conn(sock), p, sock.Recovered())
		},
		// OnDisconnecting, not OnDisconnect: it runs before the server
		// keeps the session for recovery, so the hub hears of the drop
		// before a recovered socket with the same id can connect.
		OnDisconnecting: func(sock *socketio.Socket, reason socketio.DisconnectReason) {
			h.Disconnected(conn(sock), reason.Recoverable())
		},
		Clock:  h.clk,
		Logger: h.cfg.Logger,
	}
	srv, err := socketio.NewServer(cfg)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	for _, name := range hubEvents {
		srv.On(name, func(sock *socketio.Socket, args socketio.Args, ack func(...any)) {
			p, ok := principal(sock)
			if !ok {
				return
			}
			var a Ack
			if ack != nil {
				a = func(v any) { ack(v) }
			}
			h.Event(conn(sock), p, name, args.Raw(0), a)
		})
	}
	return s, nil
}
