package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling"
	"tether/signaling/engineio"
	"tether/signaling/hub/auth"
	"tether/signaling/socketio"
)

// TestMain lets a test start real hub nodes as child processes of the test
// binary (TETHER_HUB_CHILD holds the arguments as JSON), so a node can be
// killed with SIGKILL without building the binary first.
func TestMain(m *testing.M) {
	if path := os.Getenv("TETHER_LOAD_CHILD"); path != "" {
		loadChild(path)
	}
	if raw := os.Getenv("TETHER_HUB_CHILD"); raw != "" {
		if addr := os.Getenv("TETHER_HUB_PPROF"); addr != "" {
			// Profiling a node of the scale bench (go tool pprof
			// http://ADDR/debug/pprof/heap); off in every test.
			go func() { _ = http.ListenAndServe(addr, nil) }()
			if os.Getenv("TETHER_HUB_HEAPPROF") != "" {
				runtime.MemProfileRate = 2048
			}
		}
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, "TETHER_HUB_CHILD:", err)
			os.Exit(2)
		}
		if err := run(args, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tether-hub:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// hubNode is a tether-hub serve process of a cluster.
type hubNode struct {
	name string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  *testenv.SyncBuffer
}

func startHubNode(t testing.TB, name, redisURL, dir string, extra ...string) *hubNode {
	t.Helper()
	port := testenv.FreePort(t)
	n := &hubNode{name: name, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), log: &testenv.SyncBuffer{}}
	args := append([]string{"serve", "-listen", n.addr, "-redis", redisURL, "-data", filepath.Join(dir, name+".db"),
		"-max-sessions-per-addr", "-1", "-max-conns-per-addr", "-1", "-max-sessions", "-1", "-node-ttl", "3s"}, extra...)
	raw, _ := json.Marshal(args)
	n.cmd = exec.Command(os.Args[0])
	n.cmd.Env = append(os.Environ(), "TETHER_HUB_CHILD="+string(raw))
	n.cmd.Stderr = n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(n.log.String(), 4000))
		}
	})
	waitHTTP(t, "http://"+n.addr+"/healthz", n.done)
	return n
}

func (n *hubNode) kill() {
	_ = n.cmd.Process.Kill()
	<-n.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitHTTP waits until url answers 200 (bounded), or the process ends.
func waitHTTP(t testing.TB, url string, done <-chan struct{}) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("%s: process exited", url)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not answer within 30 s", url)
}

// startHAProxy runs Debian's haproxy in front of the nodes with the
// README's configuration: round robin, a sticky cookie for polling,
// health checks on /healthz, redispatch when a node is gone.
func startHAProxy(t testing.TB, dir string, nodes []*hubNode) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/haproxy"); err2 == nil {
			bin = "/usr/sbin/haproxy"
		} else if os.Getenv("CI") != "" {
			t.Fatal("haproxy not installed under CI (.ci/run installs the haproxy package)")
		} else {
			t.Skip("haproxy not installed (apt-get install haproxy; CI installs it)")
		}
	}
	port := testenv.FreePort(t)
	var servers strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&servers, "  server %s %s check inter 500ms fall 2 rise 2 cookie %s\n", n.name, n.addr, n.name)
	}
	cfg := fmt.Sprintf(haproxyConfig, port, servers.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", path, "-db")
	log := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("haproxy log:\n%s", tail(log.String(), 4000))
		}
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHTTP(t, url+"/healthz", done)
	return url
}

// haproxyConfig is the README's HAProxy configuration (port, servers).
const haproxyConfig = `global
  maxconn 9000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option redispatch
  retries 3
frontend tether
  bind 127.0.0.1:%d
  default_backend hubs
backend hubs
  balance roundrobin
  option httpchk GET /healthz
  cookie TETHERNODE insert indirect nocache
%s`

// lbRoom is one counter with a customer in the call, both through the
// load balancer.
type lbRoom struct {
	room   string
	dev    *signaling.Device
	joins  atomic.Int32
	cust   *socketio.Client
	mu     sync.Mutex
	custID string
	inCall bool
	got    chan string // signals the customer received, by sender
}

func lbLogin(t testing.TB, base, user, pw string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	for range 20 {
		resp, err := http.Post(base+"/api/login", "application/json", bytes.NewReader(body))
		if err == nil {
			var m struct{ Token string }
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if json.Unmarshal(raw, &m) == nil && m.Token != "" {
				return m.Token
			}
			t.Logf("login %s: %d %s", user, resp.StatusCode, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("login %s failed", user)
	return ""
}

func (r *lbRoom) startDevice(t testing.TB, ctx context.Context, wg *sync.WaitGroup, base, token string) {
	d, err := signaling.NewDevice(signaling.DeviceConfig{
		HubURL: base, Token: func() string { return token },
		Handlers: signaling.Handlers{Joined: func(signaling.JoinReply) { r.joins.Add(1) }},
		Engine:   engineio.Config{DialTimeout: 2 * time.Second, HandshakeTimeout: 4 * time.Second},
		Logger:   testenv.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.dev = d
	wg.Add(1)
	go func() { defer wg.Done(); _ = d.Run(ctx) }()
}

// startCustomer connects a polling-only customer with a cookie jar (the
// sticky cookie keeps its session on one node) that joins the room on
// every connect, as the customer page does.
func (r *lbRoom) startCustomer(t testing.TB, ctx context.Context, wg *sync.WaitGroup, base, invite string) {
	jar, _ := cookiejar.New(nil)
	var c *socketio.Client
	c, err := socketio.New(socketio.Config{
		Engine:     engineio.Config{URL: base, Jar: jar, DialTimeout: 2 * time.Second, HandshakeTimeout: 4 * time.Second},
		Transports: []string{engineio.TransportPolling},
		Auth: func() map[string]any {
			return map[string]any{"role": "customer", "invite": invite, "name": "C " + r.room}
		},
		OnConnect: func(ctx context.Context, recovered bool) error {
			args, err := c.EmitWithAck(ctx, "room:join", map[string]any{"roomId": r.room})
			if err != nil {
				return err
			}
			var j struct {
				OK       bool
				Error    string
				UserID   string
				Position int
			}
			if err := args.Decode(0, &j); err != nil || !j.OK {
				return fmt.Errorf("join: %v %s", err, j.Error)
			}
			r.mu.Lock()
			r.custID, r.inCall = j.UserID, j.Position == 0
			r.mu.Unlock()
			return nil
		},
		ReconnectionDelay: 200 * time.Millisecond, ReconnectionDelayMax: 2 * time.Second,
		Logger: testenv.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.On("queue:position", func(a socketio.Args, _ func(...any)) {
		var p struct{ Position int }
		_ = a.Decode(0, &p)
		r.mu.Lock()
		r.inCall = p.Position == 0
		r.mu.Unlock()
	})
	c.On("signal", func(a socketio.Args, _ func(...any)) {
		var s signaling.Signal
		if a.Decode(0, &s) == nil {
			select {
			case r.got <- s.From:
			default:
			}
		}
	})
	r.cust = c
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Run(ctx) }()
}

// roundTrip reports whether the room's call works now: the device's
// signal reaches the customer in the call and the customer's reaches the
// device (both acknowledged ok by the room's home).
func (r *lbRoom) roundTrip(ctx context.Context) bool {
	r.mu.Lock()
	id, in := r.custID, r.inCall
	r.mu.Unlock()
	if id == "" || !in {
		return false
	}
	ok := func(args socketio.Args, err error) bool {
		var rep struct{ OK bool }
		return err == nil && args.Decode(0, &rep) == nil && rep.OK
	}
	cand := func(to string) signaling.Signal {
		return signaling.Signal{To: to, Candidate: &signaling.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if !ok(r.dev.Client().EmitWithAck(actx, signaling.EvSignal, cand(id))) {
		return false
	}
	select {
	case <-r.got:
	case <-actx.Done():
		return false
	}
	return ok(r.cust.EmitWithAck(actx, signaling.EvSignal, cand("dev-"+r.room)))
}

// TestClusterHAProxyKillNode is issue 17 §3: three hub nodes on one Redis
// behind a real HAProxy (sticky cookie for polling, health checks); every
// room has its counter (websocket) and a customer in the call (polling
// only), spread over the nodes, signalling all the time. One node is
// killed with SIGKILL: its devices and customers reconnect to the
// survivors, the rooms homed on it move, and every room's call works again
// — no membership lost. TETHER_LB_ROOMS sets the number of rooms
// (default 12).
func TestClusterHAProxyKillNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts redis-server, haproxy and three hub processes")
	}
	rooms := 12
	if v, err := strconv.Atoi(os.Getenv("TETHER_LB_ROOMS")); err == nil && v > 0 {
		rooms = v
	}
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	dir := t.TempDir()
	st, err := auth.Open(auth.Config{Redis: r.URL(), KDF: testenv.KDF, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	invites := make([]string, rooms)
	for i := range rooms {
		name := fmt.Sprintf("c%d", i)
		if _, err := st.AddAccount(name, "password-"+name, auth.RoleCounter, name); err != nil {
			t.Fatal(err)
		}
		inv, err := st.NewInvite(name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		invites[i] = inv.Code
	}
	nodes := []*hubNode{startHubNode(t, "n0", r.URL(), dir), startHubNode(t, "n1", r.URL(), dir), startHubNode(t, "n2", r.URL(), dir)}
	base := startHAProxy(t, dir, nodes)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	rs := make([]*lbRoom, rooms)
	for i := range rs {
		rs[i] = &lbRoom{room: fmt.Sprintf("c%d", i), got: make(chan string, 64)}
		rs[i].startDevice(t, ctx, &wg, base, lbLogin(t, base, rs[i].room, "password-"+rs[i].room))
	}
	for i, rm := range rs {
		rm.startCustomer(t, ctx, &wg, base, invites[i])
	}
	allWork := func(within time.Duration) (time.Duration, []string) {
		start := time.Now()
		pending := map[int]bool{}
		for i := range rs {
			pending[i] = true
		}
		for time.Since(start) < within && len(pending) > 0 {
			for i := range pending {
				if rs[i].roundTrip(ctx) {
					delete(pending, i)
				}
			}
			if len(pending) > 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		var bad []string
		for i := range pending {
			bad = append(bad, rs[i].room)
		}
		return time.Since(start), bad
	}
	if d, bad := allWork(60 * time.Second); len(bad) > 0 {
		t.Fatalf("before the kill, %d rooms never worked after %v: %v", len(bad), d, bad)
	}
	// Load: every device signals its customer every 100 ms meanwhile.
	var sent atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			for _, rm := range rs {
				rm.mu.Lock()
				id := rm.custID
				rm.mu.Unlock()
				if id != "" && rm.dev.SendSignal(ctx, signaling.Signal{To: id, Candidate: &signaling.Candidate{Candidate: "candidate:2 1 udp 1 127.0.0.1 9 typ host"}}) == nil {
					sent.Add(1)
				}
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	nodes[0].kill()
	killed := time.Now()
	d, bad := allWork(90 * time.Second)
	if len(bad) > 0 {
		t.Fatalf("%d of %d rooms lost after a node was killed (waited %v): %v", len(bad), rooms, d, bad)
	}
	reconnected := 0
	for _, rm := range rs {
		if rm.joins.Load() > 1 {
			reconnected++
		}
	}
	t.Logf("%d rooms: all calls back %v after kill -9 of one of 3 nodes (%d devices rejoined; %d signals sent under load)",
		rooms, time.Since(killed).Round(time.Millisecond), reconnected, sent.Load())
	// The survivors' /healthz is ok: Redis is fine.
	for _, n := range nodes[1:] {
		resp, err := http.Get("http://" + n.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) != "ok" {
			t.Fatalf("%s healthz %q", n.name, b)
		}
	}
}

// The admin commands with -redis work on the cluster's Redis: no data
// file, no lock, and two "nodes" of the CLI see the same accounts.
func TestCLIRedis(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	data := filepath.Join(t.TempDir(), "none.db")
	if out, err := cli(t, "password-1\n", "account", "add", "c1", "-room", "lobby", "-redis", r.URL(), "-data", data); err != nil || !strings.Contains(out, "room=lobby") {
		t.Fatalf("add: %q %v", out, err)
	}
	if _, err := cli(t, "password-1\n", "account", "add", "c2", "-room", "lobby", "-redis", r.URL(), "-data", data); err == nil {
		t.Fatal("a second counter took the room")
	}
	if out, err := cli(t, "", "account", "list", "-redis", r.URL(), "-data", data); err != nil || !strings.Contains(out, "c1") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := cli(t, "", "invite", "lobby", "-redis", r.URL(), "-data", data, "-public-url", "https://hub.example"); err != nil || !strings.HasPrefix(out, "https://hub.example/c/") {
		t.Fatalf("invite: %q %v", out, err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a data file was created with -redis: %v", err)
	}
}
