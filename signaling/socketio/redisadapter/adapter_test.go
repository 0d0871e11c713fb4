package redisadapter_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/internal/testenv"
	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
	"tether/signaling/socketio/redisadapter"
)

const wait = 15 * time.Second

// goNode is a Go socketio.Server with the adapter, serving the same test
// events as cluster.js (join, say).
type goNode struct {
	srv *socketio.Server
	ad  *redisadapter.Adapter
	url string
	sse chan string
}

func startGoNode(t *testing.T, redisURL string) *goNode {
	t.Helper()
	srv, err := socketio.NewServer(socketio.ServerConfig{Recovery: socketio.RecoveryConfig{Disabled: true}, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	n := &goNode{srv: srv, ad: redisadapter.New(srv, rc, redisadapter.Config{RequestTimeout: 3 * time.Second, Logger: testenv.Logger()}), sse: make(chan string, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); _ = n.ad.Run(ctx, func() { close(ready) }) }()
	go func() { _ = srv.Run(ctx) }()
	hs := httptest.NewServer(srv)
	n.url = hs.URL
	t.Cleanup(func() { cancel(); <-done; srv.Close(); hs.Close(); rc.Close() })
	select {
	case <-ready:
	case <-time.After(wait):
		t.Fatal("adapter not subscribed")
	}
	srv.On("join", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		var room string
		_ = args.Decode(0, &room)
		s.Join(room)
		if ack != nil {
			ack(s.ID())
		}
	})
	srv.On("say", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		var m struct {
			Room, Event string
			Data        any
		}
		_ = args.Decode(0, &m)
		_ = n.ad.Emit(context.Background(), []string{m.Room}, nil, false, m.Event, m.Data)
	})
	n.ad.OnServerSideEmit(func(event string, args []json.RawMessage) {
		var b strings.Builder
		b.WriteString(event)
		for _, a := range args {
			b.WriteString(" " + string(a))
		}
		n.sse <- b.String()
	})
	return n
}

func customer(t *testing.T, url string) *siotest.Client {
	return siotest.StartClient(t, url, siotest.ClientOptions{Auth: map[string]any{}, NoVerify: true, NoJoin: true})
}

func ackString(t *testing.T, c *siotest.Client, event string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	got, err := c.EmitWithAck(ctx, event, args...)
	if err != nil || len(got) == 0 {
		t.Fatalf("%s: %v %v", event, got, err)
	}
	return string(got[0])
}

func nextEvent(t *testing.T, c *siotest.Client, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := c.NextEvent(ctx, name)
	if err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
	return string(ev.Args[0])
}

// A Go server and the official Node server with the official Redis adapter
// on one redis-server are one cluster: room broadcasts both ways,
// fetchSockets and the SOCKETS request across both, serverSideEmit both
// ways, the server count, and disconnectSockets by room.
func TestInteropNodeAdapter(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	g := startGoNode(t, r.URL())
	js := siotest.StartClusterServer(t, siotest.ClusterOptions{RedisPath: r.Socket()})
	a, b := customer(t, g.url), customer(t, js.URL())
	idA := strings.Trim(ackString(t, a, "join", "room-x"), `"`)
	idB := strings.Trim(ackString(t, b, "join", "room-x"), `"`)

	if n := ackString(t, b, "count"); n != "2" {
		t.Fatalf("Node counts %s servers", n)
	}
	// Node → Go: io.to(room).emit on the Node server reaches the Go socket.
	b.Emit("say", map[string]any{"room": "room-x", "event": "hello", "data": map[string]any{"from": "node", "n": 1}})
	if got := nextEvent(t, a, "hello"); got != `{"from":"node","n":1}` {
		t.Fatalf("Go socket got %s", got)
	}
	// Go → Node (b's first "hello" was its own server's broadcast).
	if got := nextEvent(t, b, "hello"); got != `{"from":"node","n":1}` {
		t.Fatalf("Node socket got %s", got)
	}
	a.Emit("say", map[string]any{"room": "room-x", "event": "hello", "data": map[string]any{"from": "go", "n": 2, "pi": 3.5}})
	if got := nextEvent(t, b, "hello"); got != `{"from":"go","n":2,"pi":3.5}` {
		t.Fatalf("Node socket got %s", got)
	}
	// Node's fetchSockets counts on the Go server's answer.
	var ids []string
	if err := json.Unmarshal([]byte(ackString(t, b, "fetch", "room-x")), &ids); err != nil || !slices.Equal(ids, sortedPair(idA, idB)) {
		t.Fatalf("Node fetchSockets: %v %v (want %s %s)", ids, err, idA, idB)
	}
	// And the Go side's SOCKETS request on the Node server's.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	got, err := g.ad.SocketIDs(ctx, "room-x")
	slices.Sort(got)
	if err != nil || !slices.Equal(got, sortedPair(idA, idB)) {
		t.Fatalf("Go SocketIDs: %v %v", got, err)
	}
	// serverSideEmit, Go → Node: cluster.js relays it to the room, so both
	// sockets get it (the Go one through Node's broadcast).
	if err := g.ad.ServerSideEmit(ctx, "relay", map[string]any{"room": "room-x", "k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*siotest.Client{a, b} {
		if got := nextEvent(t, c, "relayed"); got != `{"k":"v","room":"room-x"}` {
			t.Fatalf("relayed: %s", got)
		}
	}
	// Node → Go.
	ackString(t, b, "sse", map[string]any{"event": "ping", "data": map[string]any{"x": 1}})
	select {
	case got := <-g.sse:
		if got != `ping {"x":1}` {
			t.Fatalf("Go got serverSideEmit %q", got)
		}
	case <-time.After(wait):
		t.Fatal("Go got no serverSideEmit")
	}
	// disconnectSockets from Go reaches the Node server's socket.
	if err := g.ad.DisconnectSockets(ctx, []string{idB}, false); err != nil {
		t.Fatal(err)
	}
	ev, err := b.Next(ctx, "disconnect")
	if err != nil || ev.Reason != "io server disconnect" {
		t.Fatalf("Node socket: %+v %v", ev, err)
	}
}

func sortedPair(a, b string) []string {
	s := []string{a, b}
	slices.Sort(s)
	return s
}
