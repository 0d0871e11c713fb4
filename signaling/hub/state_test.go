package hub

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/signaling"
)

// fakeConn records what the hub emits to one socket.
type fakeConn struct {
	id        string
	transport string
	mu        sync.Mutex
	emits     []emitted
	closed    bool
	full      bool // EmitVolatile drops (a receiver that does not keep up)
	dropped   int
}

type emitted struct {
	event string
	arg   any
}

func (c *fakeConn) ID() string        { return c.id }
func (c *fakeConn) Transport() string { return c.transport }
func (c *fakeConn) Emit(event string, arg any) {
	c.mu.Lock()
	c.emits = append(c.emits, emitted{event, arg})
	c.mu.Unlock()
}
func (c *fakeConn) EmitVolatile(event string, arg any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		c.dropped++
		return false
	}
	c.emits = append(c.emits, emitted{event, arg})
	return true
}
func (c *fakeConn) Disconnect() { c.mu.Lock(); c.closed = true; c.mu.Unlock() }
func (c *fakeConn) Close()      { c.Disconnect() }

// take returns and clears the recorded emits.
func (c *fakeConn) take() []emitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.emits
	c.emits = nil
	return out
}

// names renders emits compactly for comparison.
func names(es []emitted) []string {
	var out []string
	for _, e := range es {
		switch a := e.arg.(type) {
		case queuePosition:
			out = append(out, fmt.Sprintf("%s %d", e.event, a.Position))
		case signaling.RoomEvent:
			out = append(out, fmt.Sprintf("%s %s %s", e.event, a.UserID, a.Reason))
		case deviceStatusEvent:
			out = append(out, fmt.Sprintf("%s %v", e.event, a.Online))
		case signaling.Signal:
			out = append(out, fmt.Sprintf("%s from %s", e.event, a.From))
		default:
			out = append(out, e.event)
		}
	}
	return out
}

func eq(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// timers is a fake of the loop's timer plumbing driven by a mock clock.
type testState struct {
	*state
	clk    *clockwork.FakeClock
	timers []timer
}

type timer struct {
	at time.Time
	f  func(*state)
}

func newTestState() *testState {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	ts := &testState{clk: clk}
	ts.state = newState(clk, slog.New(slog.DiscardHandler), newMetrics(nil))
	ts.state.after = func(d time.Duration, f func(*state)) {
		ts.timers = append(ts.timers, timer{clk.Now().Add(d), f})
	}
	return ts
}

// advance moves the clock and runs what came due, as the loop would.
func (ts *testState) advance(d time.Duration) {
	ts.clk.Advance(d)
	var keep []timer
	var due []func(*state)
	for _, t := range ts.timers {
		if t.at.After(ts.clk.Now()) {
			keep = append(keep, t)
		} else {
			due = append(due, t.f)
		}
	}
	ts.timers = keep
	for _, f := range due {
		f(ts.state)
	}
}

type ackRec struct{ v any }

func (a *ackRec) ack() Ack { return func(v any) { a.v = v } }

func (a *ackRec) code() string {
	switch r := a.v.(type) {
	case reply:
		if r.OK {
			return "ok"
		}
		return r.Error
	case joinReply:
		if r.OK {
			return "ok"
		}
		return r.Error
	}
	return fmt.Sprintf("%T", a.v)
}

func (ts *testState) device(id, room string) *fakeConn {
	c := &fakeConn{id: id, transport: "websocket"}
	ts.connected(c, Principal{Role: RoleDevice, Account: "acct-" + room, DeviceID: "dev-" + room, RoomID: room}, false)
	ts.verified(id)
	var a ackRec
	ts.join(id, room, a.ack())
	if a.code() != "ok" {
		panic("device join: " + a.code())
	}
	return c
}

func (ts *testState) customer(t *testing.T, id, room string) (*fakeConn, joinReply) {
	t.Helper()
	c := &fakeConn{id: id, transport: "polling"}
	ts.connected(c, Principal{Role: RoleCustomer, RoomID: room, Name: "n-" + id}, false)
	var a ackRec
	ts.join(id, room, a.ack())
	r, ok := a.v.(joinReply)
	if !ok || !r.OK {
		t.Fatalf("customer join: %v", a.v)
	}
	return c, r
}

func (ts *testState) uid(id string) string { return ts.members[id].userID }

func TestQueuePromotion(t *testing.T) {
	ts := newTestState()
	dev := ts.device("s-dev", "r1")
	eq(t, "device alone", names(dev.take()))

	a, ra := ts.customer(t, "s-a", "r1")
	if *ra.Position != 0 || !*ra.DeviceOnline || len(ra.Members) != 2 || ra.Members[0].Role != "device" || ra.UserID != ts.uid("s-a") {
		t.Fatalf("first customer reply %+v", ra)
	}
	eq(t, "A", names(a.take()), "queue:position 0")
	eq(t, "device sees A", names(dev.take()), "room:user:joined "+ts.uid("s-a")+" ")

	b, rb := ts.customer(t, "s-b", "r1")
	c, rc := ts.customer(t, "s-c", "r1")
	if *rb.Position != 1 || *rc.Position != 2 || len(rb.Members) != 2 {
		t.Fatalf("queued replies %+v %+v", rb, rc)
	}
	eq(t, "B", names(b.take()), "queue:position 1")
	eq(t, "C", names(c.take()), "queue:position 2")
	eq(t, "device does not see the queue", names(dev.take()))

	// The device ends A's call: both hear call:ended, B is promoted and
	// learns the device, C moves up.
	var ack ackRec
	ts.callEnded("s-dev", signaling.RoomEvent{RoomID: "r1", UserID: ts.uid("s-a"), Reason: "done"}, ack.ack())
	if ack.code() != "ok" {
		t.Fatal(ack.code())
	}
	eq(t, "A ended", names(a.take()), "call:ended "+ts.uid("s-a")+" done")
	eq(t, "device", names(dev.take()), "call:ended "+ts.uid("s-a")+" done", "room:user:joined "+ts.uid("s-b")+" ")
	eq(t, "B promoted", names(b.take()), "queue:position 0", "room:user:joined dev-r1 ")
	eq(t, "C", names(c.take()), "queue:position 1")

	// A is out of the room: its signal goes nowhere.
	ts.signal("s-a", signaling.Signal{To: "dev-r1", EndOfCandidates: true}, ack.ack())
	if ack.code() != codeNotInCall {
		t.Fatalf("ended customer signal: %s", ack.code())
	}
	// A may queue again, at the end.
	var aj ackRec
	ts.join("s-a", "r1", aj.ack())
	if p := *aj.v.(joinReply).Position; p != 2 {
		t.Fatalf("A requeued at %d", p)
	}
	a.take()

	// B (active) leaves for good: the device hears room:user:left, C is promoted.
	ts.disconnected("s-b", false)
	eq(t, "device after B left", names(dev.take()), "room:user:left "+rb.UserID+" disconnect", "room:user:joined "+ts.uid("s-c")+" ")
	eq(t, "C promoted", names(c.take()), "queue:position 0", "room:user:joined dev-r1 ")
	eq(t, "A moves up", names(a.take()), "queue:position 1")

	// A waiting customer gives up with call:ended: only the queue changes.
	ts.callEnded("s-a", signaling.RoomEvent{RoomID: "r1"}, ack.ack())
	if ack.code() != "ok" || len(ts.rooms["r1"].queue) != 0 {
		t.Fatalf("give up: %s queue %d", ack.code(), len(ts.rooms["r1"].queue))
	}
	eq(t, "device unaware", names(dev.take()))
}

func TestSignalRouting(t *testing.T) {
	ts := newTestState()
	d1 := ts.device("s-d1", "r1")
	d2 := ts.device("s-d2", "r2")
	a, _ := ts.customer(t, "s-a", "r1") // active in r1
	q, _ := ts.customer(t, "s-q", "r1") // queued in r1
	x, _ := ts.customer(t, "s-x", "r2") // active in r2
	for _, c := range []*fakeConn{d1, d2, a, q, x} {
		c.take()
	}
	offer := &signaling.SessionDescription{Type: "offer", SDP: "v=0"}
	tests := []struct {
		name, from, to string
		want           string
		got            *fakeConn
	}{
		{"device to its active customer", "s-d1", ts.uid("s-a"), "ok", a},
		{"customer to its device", "s-a", "dev-r1", "ok", d1},
		{"device to a queued customer", "s-d1", ts.uid("s-q"), codeNotInCall, nil},
		{"queued customer to the device", "s-q", "dev-r1", codeNotInCall, nil},
		{"device to another room's customer", "s-d1", ts.uid("s-x"), codeNotInCall, nil},
		{"customer to another room's device", "s-a", "dev-r2", codeNotInCall, nil},
		{"customer to another customer", "s-a", ts.uid("s-q"), codeNotInCall, nil},
		{"unknown socket", "s-nobody", "dev-r1", codeNotInCall, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ack ackRec
			ts.signal(tt.from, signaling.Signal{To: tt.to, Description: offer}, ack.ack())
			if ack.code() != tt.want {
				t.Fatalf("ack %s, want %s", ack.code(), tt.want)
			}
			for _, c := range []*fakeConn{d1, d2, a, q, x} {
				es := c.take()
				if c == tt.got {
					if len(es) != 1 || es[0].event != "signal" {
						t.Fatalf("target got %v", names(es))
					}
					s := es[0].arg.(signaling.Signal)
					if s.To != "" || s.From != ts.members[tt.from].userID || s.Description != offer {
						t.Fatalf("forwarded %+v", s)
					}
				} else if len(es) != 0 {
					t.Fatalf("%s leaked %v", c.id, names(es))
				}
			}
		})
	}
}

func TestDeviceOfflineAndRecovery(t *testing.T) {
	ts := newTestState()
	ts.recovery = 2 * time.Minute
	a, ra := ts.customer(t, "s-a", "r1")
	if *ra.DeviceOnline || len(ra.Members) != 1 {
		t.Fatalf("no device yet: %+v", ra)
	}
	a.take()
	dev := ts.device("s-dev", "r1")
	eq(t, "device arrives", names(a.take()), "room:device:status true", "room:user:joined dev-r1 ")
	eq(t, "device learns A from members", names(dev.take()))

	// A recoverable drop: customers hear offline at once; the device keeps
	// its place for the window and comes back with the same socket id.
	ts.disconnected("s-dev", true)
	eq(t, "drop", names(a.take()), "room:device:status false")
	ts.advance(time.Minute)
	ts.connected(dev, Principal{Role: RoleDevice, Account: "acct-r1", DeviceID: "dev-r1", RoomID: "r1"}, true)
	eq(t, "recovered", names(a.take()), "room:device:status true")
	if ts.rooms["r1"].device == nil || ts.rooms["r1"].active == nil {
		t.Fatal("room lost its members")
	}
	// A stale timer of the first drop does nothing.
	ts.advance(2 * time.Minute)
	if ts.rooms["r1"].device == nil {
		t.Fatal("stale timer removed the device")
	}

	// The customer drops recoverably and does not come back in time: the
	// device hears room:user:left after the window.
	ts.disconnected("s-a", true)
	ts.advance(119 * time.Second)
	eq(t, "within window", names(dev.take()))
	ts.advance(time.Second)
	eq(t, "after window", names(dev.take()), "room:user:left "+ra.UserID+" disconnect")
	if len(ts.members) != 1 {
		t.Fatalf("members %d", len(ts.members))
	}

	// A recovered socket the hub forgot is told to start over.
	ghost := &fakeConn{id: "s-ghost"}
	ts.connected(ghost, Principal{Role: RoleCustomer, RoomID: "r1"}, true)
	if !ghost.closed {
		t.Fatal("unknown recovered socket kept")
	}
}

func TestDeviceReplacedAndRevoked(t *testing.T) {
	ts := newTestState()
	old := ts.device("s-old", "r1")
	a, _ := ts.customer(t, "s-a", "r1")
	a.take()
	// The counter reconnects without recovery: the new socket wins.
	nw := ts.device("s-new", "r1")
	if !old.closed || ts.members["s-old"] != nil || ts.rooms["r1"].device.conn != nw {
		t.Fatal("old device socket not replaced")
	}
	eq(t, "customer sees the device (same userId) again", names(a.take()), "room:user:joined dev-r1 ")
	ts.disconnected("s-old", false) // the old socket's own disconnect: no effect
	if ts.rooms["r1"].device == nil {
		t.Fatal("old socket's disconnect removed the new device")
	}
	nw.take()
	if n := ts.expireAccount("acct-r1"); n != 1 {
		t.Fatalf("expired %d", n)
	}
	eq(t, "revoked", names(nw.take()), "session:expired")
	if !nw.closed {
		t.Fatal("revoked device not disconnected")
	}
	eq(t, "customer", names(a.take()), "room:device:status false", "room:user:left dev-r1 session_expired")
}

func TestJoinRules(t *testing.T) {
	ts := newTestState()
	c := &fakeConn{id: "s-d"}
	ts.connected(c, Principal{Role: RoleDevice, Account: "a", DeviceID: "dev-a", RoomID: "r1"}, false)
	var ack ackRec
	ts.join("s-d", "r1", ack.ack())
	if ack.code() != codeUnauthorized {
		t.Fatalf("join before verify: %s", ack.code())
	}
	ts.verified("s-d")
	ts.join("s-d", "r2", ack.ack())
	if ack.code() != codeForbidden {
		t.Fatalf("join of another room: %s", ack.code())
	}
	cu := &fakeConn{id: "s-c"}
	ts.connected(cu, Principal{Role: RoleCustomer, RoomID: "r1"}, false)
	ts.join("s-c", "r2", ack.ack())
	if ack.code() != codeForbidden {
		t.Fatalf("customer join of another room: %s", ack.code())
	}
	if ts.verified("s-c") {
		t.Fatal("customer verified")
	}
	// A second room:join (after a recovered reconnect) does not requeue.
	ts.join("s-c", "r1", ack.ack())
	ts.join("s-c", "r1", ack.ack())
	if len(ts.rooms["r1"].queue) != 0 || ts.rooms["r1"].active.conn != cu {
		t.Fatal("double join changed the room")
	}
	ts.callEnded("s-d", signaling.RoomEvent{RoomID: "r1", UserID: "cus-wrong"}, ack.ack())
	if ack.code() != codeNotJoined {
		t.Fatalf("call:ended by unjoined device: %s", ack.code())
	}
	ts.join("s-d", "r1", ack.ack())
	ts.callEnded("s-d", signaling.RoomEvent{RoomID: "r1", UserID: "cus-wrong"}, ack.ack())
	if ack.code() != codeNotInCall {
		t.Fatalf("call:ended for a stale user: %s", ack.code())
	}
	ts.deviceStatus("s-d", json.RawMessage(`{"rttMs":12}`))
	if string(ts.devices["dev-a"].Status) != `{"rttMs":12}` {
		t.Fatal("status not stored")
	}
}

func TestQueueBound(t *testing.T) {
	ts := newTestState()
	ts.maxQueue = 2
	ts.customer(t, "s-a", "r1")
	ts.customer(t, "s-b", "r1")
	ts.customer(t, "s-c", "r1")
	c := &fakeConn{id: "s-d"}
	ts.connected(c, Principal{Role: RoleCustomer, RoomID: "r1"}, false)
	var ack ackRec
	ts.join("s-d", "r1", ack.ack())
	if ack.code() != codeRoomFull || len(ts.rooms["r1"].queue) != 2 {
		t.Fatalf("join of a full queue: %s", ack.code())
	}
}

func TestDisplayName(t *testing.T) {
	for in, want := range map[string]string{
		"": "Customer", "  Ann  ": "Ann", "a\x00b\nc": "abc",
		string(make([]byte, 100)): "Customer",
		strings.Repeat("é", 40):   strings.Repeat("é", 32),
	} {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkSignalRoute is the loop's cost to route one signal (device to
// its customer) against one dropped for a waiting customer.
func BenchmarkSignalRoute(b *testing.B) {
	ts := newTestState()
	t := &testing.T{}
	dev := ts.device("s-dev", "r1")
	a, _ := ts.customer(t, "s-a", "r1")
	ts.customer(t, "s-q", "r1")
	s := signaling.Signal{To: ts.uid("s-a"), Candidate: &signaling.Candidate{Candidate: "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}}
	q := s
	q.To = ts.uid("s-q")
	for _, tc := range []struct {
		name string
		s    signaling.Signal
	}{{"forwarded", s}, {"dropped", q}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ts.signal("s-dev", tc.s, nil)
				a.mu.Lock()
				a.emits = a.emits[:0]
				a.mu.Unlock()
			}
		})
	}
	_ = dev
}
