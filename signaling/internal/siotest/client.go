package siotest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// ClientOptions configure the official socket.io-client (testdata/node/client.js).
// The reconnection settings are always the seed's: reconnection true,
// reconnectionAttempts Infinity, reconnectionDelay 1000, reconnectionDelayMax
// 5000, tryAllTransports true.
type ClientOptions struct {
	// Transports in order; default the seed's ["websocket", "polling"].
	Transports []string
	// Token for auth {role: "device", token}; default "good-token".
	Token string
	// Auth replaces the whole CONNECT auth payload (e.g. a customer's).
	Auth map[string]any
	// RoomID for room:join; default "room-1".
	RoomID string
	// NoVerify skips session:verify on connect (customers); NoJoin skips room:join.
	NoVerify, NoJoin bool
	// AckTimeout for the client's own acks; default 10 s.
	AckTimeout time.Duration
	// NetNS runs the client inside this network namespace (board/netns).
	NetNS string
}

type clientJSON struct {
	URL          string         `json:"url"`
	Transports   []string       `json:"transports,omitempty"`
	Token        string         `json:"token,omitempty"`
	Auth         map[string]any `json:"auth,omitempty"`
	RoomID       string         `json:"roomId,omitempty"`
	NoVerify     bool           `json:"noVerify,omitempty"`
	NoJoin       bool           `json:"noJoin,omitempty"`
	AckTimeoutMs int64          `json:"ackTimeoutMs,omitempty"`
}

// ClientEvent is one line client.js printed. Name is one of: open, connect,
// disconnect, connect_error, reconnect_attempt, reconnect, reconnect_error,
// reconnect_failed, upgrade, verified, verify_error, joined, join_error,
// event (a server event: Event and Args), ack (AckID, Args or Error), state,
// cmd_error.
type ClientEvent struct {
	Seq  int       `json:"-"` // 0-based position in Events()
	Name string    `json:"ev"`
	At   time.Time `json:"-"` // the client's clock, ms resolution
	T    int64     `json:"t"` // At in Unix ms

	ID          string            `json:"id"`        // connect, state: socket id
	Recovered   bool              `json:"recovered"` // connect: socket.recovered
	Transport   string            `json:"transport"` // connect, open, upgrade, state
	Reason      string            `json:"reason"`    // disconnect
	Description string            `json:"description"`
	N           int               `json:"n"`      // reconnect_attempt, reconnect
	Error       string            `json:"error"`  // connect_error, reconnect_error, *_error, ack
	Active      bool              `json:"active"` // connect_error, state: socket.active
	Connected   bool              `json:"connected"`
	Ack         json.RawMessage   `json:"ack"` // verified, joined: the server's reply
	Event       string            `json:"event"`
	Args        []json.RawMessage `json:"args"` // event, ack; binary as {"$binary": ..}
	AckID       int               `json:"ackId"`

	Raw json.RawMessage `json:"-"` // the whole line
}

// Client is a running official socket.io-client. Its methods may be called
// from any goroutine.
type Client struct {
	t testing.TB
	p *proc

	mu      sync.Mutex // guards the fields below
	events  []ClientEvent
	cursor  map[string]int // Next's per-name position in events
	changed chan struct{}  // closed and replaced on every new event
	ackSeq  int
}

// StartClient starts the official client against url (for example
// Server.URL()). It connects on its own; use Next to wait for "joined".
// It is killed in t.Cleanup. It skips t when node is unavailable.
func StartClient(t testing.TB, url string, o ClientOptions) *Client {
	t.Helper()
	node, dir := requireNode(t)
	cfg := clientJSON{
		URL: url, Transports: o.Transports, Token: o.Token, Auth: o.Auth,
		RoomID: o.RoomID, NoVerify: o.NoVerify, NoJoin: o.NoJoin,
		AckTimeoutMs: o.AckTimeout.Milliseconds(),
	}
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("siotest: marshal client options: %v", err)
	}
	c := &Client{t: t, cursor: map[string]int{}, changed: make(chan struct{})}
	p, err := startProcIn(t, o.NetNS, node, dir, "client.js", string(arg), "node client: ", c.onLine)
	if err != nil {
		t.Fatalf("siotest: start client: %v", err)
	}
	c.p = p
	t.Cleanup(c.Kill)
	// Wake waiters when the process ends, so they fail fast.
	go func() {
		<-p.done
		c.mu.Lock()
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}()
	return c
}

// onLine runs on the stdout reader goroutine.
func (c *Client) onLine(line []byte) {
	var ev ClientEvent
	if err := json.Unmarshal(line, &ev); err != nil || ev.Name == "" {
		c.t.Logf("node client stdout: %s", line)
		return
	}
	ev.At = time.UnixMilli(ev.T)
	ev.Raw = append(json.RawMessage(nil), line...)
	c.mu.Lock()
	ev.Seq = len(c.events)
	c.events = append(c.events, ev)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Events returns a copy of every event so far.
func (c *Client) Events() []ClientEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ClientEvent(nil), c.events...)
}

// Next returns the next event called name that no earlier Next(name)
// returned, waiting for it if needed: successive calls walk through the
// events of that name in order, including those that arrived before the
// call. It fails when ctx ends or the client process has exited.
func (c *Client) Next(ctx context.Context, name string) (ClientEvent, error) {
	return c.next(ctx, name, name, func(e ClientEvent) bool { return e.Name == name })
}

// NextEvent is Next for server events ("event" lines) called event, with
// its own cursor per event name.
func (c *Client) NextEvent(ctx context.Context, event string) (ClientEvent, error) {
	return c.next(ctx, "event\x00"+event, "event "+event, func(e ClientEvent) bool {
		return e.Name == "event" && e.Event == event
	})
}

func (c *Client) next(ctx context.Context, key, what string, match func(ClientEvent) bool) (ClientEvent, error) {
	for {
		c.mu.Lock()
		for i := c.cursor[key]; i < len(c.events); i++ {
			if match(c.events[i]) {
				c.cursor[key] = i + 1
				ev := c.events[i]
				c.mu.Unlock()
				return ev, nil
			}
		}
		c.cursor[key] = len(c.events)
		ch := c.changed
		c.mu.Unlock()
		if err := c.wait(ctx, ch, what); err != nil {
			return ClientEvent{}, err
		}
	}
}

// WaitFor returns the first event (from the very start) for which ok is
// true, waiting for it if needed. Use Seq or At in ok to skip old events.
func (c *Client) WaitFor(ctx context.Context, ok func(ClientEvent) bool) (ClientEvent, error) {
	from := 0
	for {
		c.mu.Lock()
		for ; from < len(c.events); from++ {
			if ok(c.events[from]) {
				ev := c.events[from]
				c.mu.Unlock()
				return ev, nil
			}
		}
		ch := c.changed
		c.mu.Unlock()
		if err := c.wait(ctx, ch, "matching event"); err != nil {
			return ClientEvent{}, err
		}
	}
}

func (c *Client) wait(ctx context.Context, ch <-chan struct{}, what string) error {
	if c.p.exited() {
		// Events are appended before done closes, so none can still arrive.
		return fmt.Errorf("siotest: client waiting for %s: %w", what, ErrExited)
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("siotest: client waiting for %s: %w", what, ctx.Err())
	}
}

// Emit makes the client emit event with args (no ack). []byte args are
// sent as binary.
func (c *Client) Emit(event string, args ...any) error {
	return c.cmd(map[string]any{"cmd": "emit", "event": event, "args": EncodeArgs(args)})
}

// EmitWithAck makes the client emit event with an ack and returns the
// server's ack arguments (binary as {"$binary": ..}, see DecodeBinary).
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	c.mu.Lock()
	c.ackSeq++
	id := c.ackSeq
	c.mu.Unlock()
	cmd := map[string]any{"cmd": "emit", "event": event, "args": EncodeArgs(args), "ackId": id}
	if dl, ok := ctx.Deadline(); ok {
		cmd["timeoutMs"] = max(time.Until(dl).Milliseconds(), 1)
	}
	if err := c.cmd(cmd); err != nil {
		return nil, err
	}
	ev, err := c.WaitFor(ctx, func(e ClientEvent) bool { return e.Name == "ack" && e.AckID == id })
	if err != nil {
		return nil, err
	}
	if ev.Error != "" {
		return nil, fmt.Errorf("%w: %s: %s", ErrAck, event, ev.Error)
	}
	return ev.Args, nil
}

// State asks the client for socket.connected, socket.active (false: it will
// not reconnect by itself), its id and transport.
func (c *Client) State(ctx context.Context) (ClientEvent, error) {
	c.mu.Lock()
	from := len(c.events)
	c.mu.Unlock()
	if err := c.cmd(map[string]any{"cmd": "state"}); err != nil {
		return ClientEvent{}, err
	}
	return c.WaitFor(ctx, func(e ClientEvent) bool { return e.Seq >= from && e.Name == "state" })
}

// Disconnect calls socket.disconnect() (a client-side disconnect).
func (c *Client) Disconnect() error { return c.cmd(map[string]any{"cmd": "disconnect"}) }

// Connect calls socket.connect().
func (c *Client) Connect() error { return c.cmd(map[string]any{"cmd": "connect"}) }

func (c *Client) cmd(v map[string]any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("siotest: client command: %w", err)
	}
	return c.p.writeLine(b)
}

// Kill sends SIGKILL to the client and waits until it is gone. Idempotent.
func (c *Client) Kill() { c.p.kill() }
