package hub

import "encoding/json"

// Conn is one Socket.IO socket as the hub uses it; the adapter to the
// Socket.IO server implements it. The loop goroutine calls Emit and
// Disconnect, so neither may block: they queue.
type Conn interface {
	// ID is the Socket.IO socket id; a socket recovered within the
	// server's recovery window keeps it.
	ID() string
	// Transport is the current Engine.IO transport ("websocket" or
	// "polling"); it changes on upgrade.
	Transport() string
	// Emit queues an event with one JSON argument.
	Emit(event string, arg any)
	// EmitVolatile queues an event only if the connection can take it now
	// (not logged for recovery, never closing the socket); false when it
	// was dropped.
	EmitVolatile(event string, arg any) bool
	// Disconnect closes the socket from the server side (a Socket.IO
	// DISCONNECT: the client does not recover it).
	Disconnect()
	// Close disconnects the socket and closes its Engine.IO connection
	// (a flooder: it must not keep the transport either).
	Close()
}

// roomMember is a Conn on a Socket.IO server: a member of a hub room is
// also in the Socket.IO room of that name, on whichever node holds its
// socket, so a room is one Socket.IO room across a cluster and any server
// on the official Redis adapter (a Node socket.io server too) reaches its
// members with io.to(roomId) (issue 17 §2). Test connections are not.
type roomMember interface {
	JoinRoom(room string)
	LeaveRoom(room string)
}

// joinRoom and leaveRoom put c in or out of a room's Socket.IO room.
func joinRoom(c Conn, room string) {
	if m, ok := c.(roomMember); ok {
		m.JoinRoom(room)
	}
}

func leaveRoom(c Conn, room string) {
	if m, ok := c.(roomMember); ok {
		m.LeaveRoom(room)
	}
}

// Ack answers an event that was emitted with an acknowledgement; nil when
// the client asked for none.
type Ack func(reply any)

// Role of a socket, from its CONNECT auth payload.
type Role string

// Roles of the contract's CONNECT auth.
const (
	RoleDevice   Role = "device"
	RoleCustomer Role = "customer"
)

// connectAuth is the CONNECT payload of the contract, both roles.
type connectAuth struct {
	Role   Role   `json:"role"`
	Token  string `json:"token"`
	Invite string `json:"invite"`
	Name   string `json:"name"`
}

// Principal is who a socket is, as the auth middleware established it.
type Principal struct {
	Role Role
	// Device: the account and its device and room.
	Account  string
	DeviceID string
	// RoomID is the device's room or the room of the customer's invite.
	RoomID string
	// Name is the customer's display name (sanitised).
	Name     string
	InviteID string
	// Addr is the client address of the handshake (X-Forwarded-For's
	// first entry behind a trusted proxy): queue places per address.
	Addr string
}

// reply is the generic ok/error answer.
type reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// RetryAfterMs comes with busy: when to try again.
	RetryAfterMs int64 `json:"retryAfterMs,omitempty"`
}

func fail(code string) reply { return reply{Error: code} }

// decodeArg decodes an event's first argument, refusing non-objects.
func decodeArg(raw json.RawMessage, v any) error {
	if len(raw) == 0 || raw[0] != '{' {
		return errNotObject
	}
	return json.Unmarshal(raw, v)
}
