package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

// startNode runs one hub node of a cluster on the redis-server r (its
// store and its rooms in Redis).
func startNode(t *testing.T, r *testenv.Redis, mut func(*hub.Config)) *env {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Now())
	st, err := auth.Open(auth.Config{Redis: r.URL(), KDF: testenv.KDF, Clock: clk, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := hub.Config{Listen: "127.0.0.1:0", Store: st, Redis: r.URL(), AdminSocket: "-",
		Cluster: hub.ClusterConfig{NodeTTL: 3 * time.Second}, Logger: testenv.Logger()}
	if mut != nil {
		mut(&cfg)
	}
	return runHub(t, cfg, st, clk, "")
}

func clusterAccounts(t *testing.T, st *auth.Store) {
	t.Helper()
	for _, a := range [][2]string{{"c1", "r1"}, {"c2", "r2"}} {
		if _, err := st.AddAccount(a[0], "password-"+a[0], auth.RoleCounter, a[1]); err != nil {
			t.Fatal(err)
		}
	}
}

// The device on node A, its customers on node B: the call's signals go
// both ways, queue positions and promotion reach B's customers, call:ended
// reaches both nodes (issue 17 §2).
func TestClusterDeviceAndCustomersOnTwoNodes(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	a, b := startNode(t, r, nil), startNode(t, r, nil)
	clusterAccounts(t, a.store)
	d := a.device(b.token("c1")) // logged in on B, connected to A
	if got := d.ev.nextSlow(t); got != "joined device:dev-c1" {
		t.Fatalf("device: %s", got)
	}
	inv := b.invite("r1", time.Hour)
	ann := b.customer(inv, "r1", "Ann")
	if got := ann.ev.nextSlow(t); got != "joined 0 online=true" {
		t.Fatalf("Ann: %s", got)
	}
	ann.ev.expectSlow(t, "queue:position 0")
	if got := d.ev.nextSlow(t); got != "user:joined "+ann.id() {
		t.Fatalf("device: %s", got)
	}
	bob := b.customer(inv, "r1", "Bob")
	if got := bob.ev.nextSlow(t); got != "joined 1 online=true" {
		t.Fatalf("Bob: %s", got)
	}
	bob.ev.expectSlow(t, "queue:position 1")

	ctx := ctxT(t)
	if err := d.SendSignal(ctx, offer(ann.id())); err != nil {
		t.Fatal(err)
	}
	if got := ann.ev.expectSlow(t, "signal"); got != "signal dev-c1 offer" {
		t.Fatalf("Ann: %s", got)
	}
	if r := ann.emitAck(t, "signal", candidate("dev-c1", "candidate:1 1 udp 1 10.0.0.1 9 typ host")); r != "ok" {
		t.Fatalf("Ann's signal: %s", r)
	}
	if got := d.ev.nextSlow(t); got != "signal "+ann.id()+" candidate:candidate:1 1 udp 1 10.0.0.1 9 typ host" {
		t.Fatalf("device: %s", got)
	}
	if r := bob.emitAck(t, "signal", offer("dev-c1")); r != "not_in_call" {
		t.Fatalf("queued Bob's signal: %s", r)
	}
	if r := ann.emitAck(t, "call:ended", map[string]any{"roomId": "r1", "userId": ann.id(), "reason": "bye"}); r != "ok" {
		t.Fatalf("call:ended: %s", r)
	}
	if got := ann.ev.expectSlow(t, "call:ended"); got != "call:ended "+ann.id()+" bye" {
		t.Fatalf("Ann: %s", got)
	}
	if got := d.ev.nextSlow(t); got != "call:ended "+ann.id()+" bye" {
		t.Fatalf("device: %s", got)
	}
	if got := d.ev.nextSlow(t); got != "user:joined "+bob.id() {
		t.Fatalf("device: %s", got)
	}
	bob.ev.expectSlow(t, "queue:position 0")
	if err := d.SendSignal(ctx, offer(bob.id())); err != nil {
		t.Fatal(err)
	}
	if got := bob.ev.expectSlow(t, "signal"); got != "signal dev-c1 offer" {
		t.Fatalf("Bob: %s", got)
	}
	if got := health(t, a); got != "ok" {
		t.Fatalf("healthz %q", got)
	}
	// The customers' sockets are on B, their room on A.
	if m := metric(t, b, "tether_hub_cluster_forwarded_sockets"); m != 2 {
		t.Fatalf("B forwards %v sockets", m)
	}
}

func health(t *testing.T, e *env) string {
	t.Helper()
	resp, err := http.Get(e.h.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// A node that leaves takes its members out of rooms homed elsewhere (no
// ghost), and a new node joins the same room.
func TestClusterNodeLeavesAndJoins(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	a, b := startNode(t, r, nil), startNode(t, r, nil)
	clusterAccounts(t, a.store)
	d := a.device(a.token("c1"))
	d.ev.expectSlow(t, "joined")
	inv := a.invite("r1", time.Hour)
	ann := b.customer(inv, "r1", "Ann")
	ann.ev.expectSlow(t, "joined 0")
	d.ev.expectSlow(t, "user:joined "+ann.id())
	b.stop()
	if got := d.ev.expectSlow(t, "user:left"); !strings.HasPrefix(got, "user:left "+ann.id()) {
		t.Fatalf("device: %s", got)
	}
	c := startNode(t, r, nil)
	bob := c.customer(inv, "r1", "Bob")
	if got := bob.ev.nextSlow(t); got != "joined 0 online=true" {
		t.Fatalf("Bob on a new node: %s", got)
	}
	d.ev.expectSlow(t, "user:joined "+bob.id())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := d.SendSignal(ctx, offer(bob.id())); err != nil {
		t.Fatal(err)
	}
	if got := bob.ev.expectSlow(t, "signal"); got != "signal dev-c1 offer" {
		t.Fatalf("Bob: %s", got)
	}
}

// signalOK sends a signal from the device to userID and from the customer
// back, and reports whether the room's home forwarded both.
func signalOK(t *testing.T, d *device, c *customer, dev string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	args, err := d.Client().EmitWithAck(ctx, "signal", candidate(c.id(), "candidate:1 1 udp 1 127.0.0.1 9 typ host"))
	if err != nil || !strings.Contains(string(args.Raw(0)), `"ok":true`) {
		return false
	}
	// Not emitAck: a lost answer (Redis coming back) is a false here, not
	// a failed test.
	args, err = c.EmitWithAck(ctx, "signal", candidate(dev, "candidate:2 1 udp 1 127.0.0.1 9 typ host"))
	return err == nil && strings.Contains(string(args.Raw(0)), `"ok":true`)
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Redis lost: each node keeps the calls it holds and says degraded
// (/healthz, tether_hub_cluster_degraded); Redis back from its
// append-only file: healthy again, the call across nodes works again,
// accounts and sessions are all there (issue 17 §5).
func TestClusterRedisOutage(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	a, b := startNode(t, r, nil), startNode(t, r, nil)
	clusterAccounts(t, a.store)
	tok1 := a.token("c1")
	d1 := a.device(tok1)
	d1.ev.expectSlow(t, "joined")
	local := a.customer(a.invite("r1", time.Hour), "r1", "Local")
	local.ev.expectSlow(t, "joined 0")
	d2 := b.device(b.token("c2"))
	d2.ev.expectSlow(t, "joined")
	cross := a.customer(a.invite("r2", time.Hour), "r2", "Cross")
	cross.ev.expectSlow(t, "joined 0")
	eventually(t, "calls before the outage", func() bool {
		return signalOK(t, d1, local, "dev-c1") && signalOK(t, d2, cross, "dev-c2")
	})

	r.Kill()
	eventually(t, "degraded", func() bool { return health(t, a) != "ok" && health(t, b) != "ok" })
	if m := metric(t, a, "tether_hub_cluster_degraded"); m != 1 {
		t.Fatalf("degraded metric %v", m)
	}
	// The call within node A goes on.
	for range 3 {
		if !signalOK(t, d1, local, "dev-c1") {
			t.Fatal("the call within one node stopped with Redis down")
		}
	}

	r.Restart()
	eventually(t, "healthy again", func() bool { return health(t, a) == "ok" && health(t, b) == "ok" })
	eventually(t, "the call across nodes", func() bool { return signalOK(t, d2, cross, "dev-c2") })
	if !signalOK(t, d1, local, "dev-c1") {
		t.Fatal("the call within node A after Redis came back")
	}
	if list, err := b.store.Accounts(); err != nil || len(list) != 2 {
		t.Fatalf("accounts after the Redis restart: %v %v", list, err)
	}
	if _, err := b.store.Verify(tok1, false); err != nil {
		t.Fatalf("session after the Redis restart: %v", err)
	}
}

// clusterWait bounds what crosses nodes through Redis: generous, for a
// loaded CI machine (nothing here asserts speed).
const clusterWait = 30 * time.Second

func (ev *events) nextSlow(t *testing.T) string { return ev.nextWithin(t, clusterWait) }

func (ev *events) expectSlow(t *testing.T, prefix string) string {
	return ev.expectWithin(t, prefix, clusterWait)
}

// A hub node and the official Node socket.io server with the official
// Redis adapter, on one redis-server, serve the same rooms (issue 17 §2): a
// hub room is the Socket.IO room of its id on every server. Hub → Node: the
// hub's room:device:status for r1 reaches a socket the Node server put in
// r1. Node → hub: io.to("r1").emit on the Node server reaches the hub's
// device and customer in r1, and not the customer in r2.
func TestClusterHubNodeAndNodeServerShareRooms(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	a := startNode(t, r, nil)
	clusterAccounts(t, a.store)
	js := siotest.StartClusterServer(t, siotest.ClusterOptions{RedisPath: r.Socket()})
	obs := siotest.StartClient(t, js.URL(), siotest.ClientOptions{Auth: map[string]any{}, NoVerify: true, NoJoin: true})
	ctx := ctxT(t)
	if _, err := obs.EmitWithAck(ctx, "join", "r1"); err != nil {
		t.Fatal(err)
	}

	d := a.device(a.token("c1"))
	if got := d.ev.nextSlow(t); got != "joined device:dev-c1" {
		t.Fatalf("device: %s", got)
	}
	ev, err := obs.NextEvent(ctx, "room:device:status")
	if err != nil || len(ev.Args) != 1 || !sameJSON(string(ev.Args[0]), `{"roomId":"r1","online":true}`) {
		t.Fatalf("Node socket in r1: %v %v, want room:device:status online", ev.Args, err)
	}

	notices := func(c *socketio.Client) chan string {
		ch := make(chan string, 4)
		c.On("notice", func(args socketio.Args, _ func(...any)) {
			var m struct{ N int }
			_ = args.Decode(0, &m)
			ch <- fmt.Sprint(m.N)
		})
		return ch
	}
	ann := a.customer(a.invite("r1", time.Hour), "r1", "Ann")
	ann.ev.expectSlow(t, "joined 0")
	annGot := notices(ann.Client)
	bob := a.customer(a.invite("r2", time.Hour), "r2", "Bob")
	bob.ev.expectSlow(t, "joined 0")
	bobGot := notices(bob.Client)
	devGot := make(chan string, 4)
	d.Client().On("notice", func(args socketio.Args, _ func(...any)) { devGot <- "notice" })

	if err := obs.Emit("say", map[string]any{"room": "r1", "event": "notice", "data": map[string]any{"n": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := obs.Emit("say", map[string]any{"room": "r2", "event": "notice", "data": map[string]any{"n": 2}}); err != nil {
		t.Fatal(err)
	}
	for what, ch := range map[string]chan string{"Ann (r1)": annGot, "the device (r1)": devGot, "Bob (r2)": bobGot} {
		select {
		case got := <-ch:
			if what == "Bob (r2)" && got != "2" || what == "Ann (r1)" && got != "1" {
				t.Fatalf("%s got notice %s first", what, got)
			}
		case <-time.After(clusterWait):
			t.Fatalf("%s got no notice from the Node server", what)
		}
	}
}

// sameJSON compares two JSON texts as values (a Go map reaches Node, and
// Node's objects reach Go, in no fixed key order).
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
