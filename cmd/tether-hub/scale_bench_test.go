package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"tether/internal/testenv"
	"tether/signaling/hub/auth"
)

// Issue 17 §4's scale figures. They open tens of thousands of loopback
// sockets for minutes, so they run only when asked:
//
//	TETHER_SCALE=1 go test -run '^$' -bench ClusterScale -benchtime 1x -timeout 60m ./cmd/tether-hub
//
// TETHER_SCALE_PER_NODE (default 17000) devices per node for the 3-node
// cluster (51,000 in all), TETHER_SCALE_IDLE (default 60s) the idle window
// for Redis operations per device per minute, TETHER_STORM_PER_NODE
// (default 12000: the survivors must stay under the 20,000 open files a
// process may have here) for the reconnect storm, TETHER_RSS_SOCKETS
// (default 19000) for RSS per socket against the official Node server,
// TETHER_RSS_RAMP and TETHER_SCALE_RAMP (default 500 and 1000 devices a
// second) the arrival rate of the RSS and cluster fleets.
// Devices are raw WebSocket Socket.IO clients (verify, join, answer pings)
// spread over child processes of at most 15,000 sockets each.
// TETHER_HUB_PPROF=ADDR serves pprof from the nodes and logs where a
// node's memory per socket goes; TETHER_HUB_HEAPPROF=FILE adds a finely
// sampled heap profile taken after a GC (go tool pprof FILE).

// loadPlan is what a load child process runs (a JSON file).
type loadPlan struct {
	URLs    []string     `json:"urls"`
	Mode    string       `json:"mode"` // "hub": device auth, verify, join; "node": cluster.js join
	Devices []loadDevice `json:"devices"`
	// Ramp is this child's devices started per second (0: one every
	// 50 µs, a storm).
	Ramp float64 `json:"ramp"`
}

type loadDevice struct {
	Token string `json:"token"`
	Room  string `json:"room"`
	Node  int    `json:"node"`
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadChild connects the plan's devices and keeps them connected (moving
// on to the next node when one is gone) until stdin closes, printing
// {"joined":N} whenever the count changed (at most every 200 ms).
func loadChild(path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var plan loadPlan
	if err := json.Unmarshal(raw, &plan); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = bufio.NewReader(os.Stdin).ReadString('\n'); cancel() }()
	var joined atomic.Int64
	gap := 50 * time.Microsecond // a storm, but not a SYN flood on the backlog
	if plan.Ramp > 0 {
		gap = time.Duration(float64(time.Second) / plan.Ramp)
	}
	for _, d := range plan.Devices {
		go runLoadDevice(ctx, plan, d, &joined)
		time.Sleep(gap)
	}
	last := int64(-1)
	var lastBusy, lastOther int64 = -1, -1
	for ctx.Err() == nil {
		if n, b, o := joined.Load(), busyCount.Load(), otherErrs.Load(); n != last || b != lastBusy || o != lastOther {
			fmt.Printf("{\"joined\":%d,\"busy\":%d,\"other\":%d}\n", n, b, o)
			last, lastBusy, lastOther = n, b, o
		}
		time.Sleep(200 * time.Millisecond)
	}
	os.Exit(0)
}

func runLoadDevice(ctx context.Context, plan loadPlan, d loadDevice, joined *atomic.Int64) {
	node := d.Node
	for ctx.Err() == nil {
		err := loadSession(ctx, plan, d, plan.URLs[node], joined)
		pause := time.Duration(200+rand.IntN(1000)) * time.Millisecond
		var busy errBusy
		if errors.As(err, &busy) {
			// The node is there but busy: back to it when it said.
			pause = busy.after
			busyCount.Add(1)
		} else {
			// Gone: the next node after a jittered pause (a real client's
			// randomized backoff, so a storm is spread over a second).
			node = (node + 1) % len(plan.URLs)
		}
		if err != nil && !errors.As(err, &busy) && !errors.Is(err, errGone) {
			if otherErrs.Add(1) <= 5 {
				fmt.Fprintln(os.Stderr, "load device refused:", err) // the first few, to tell what they are
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// errBusy is the hub's "busy" (CONNECT_ERROR or session:verify) with its
// retry hint.
type errBusy struct{ after time.Duration }

func (e errBusy) Error() string { return "busy, retry after " + e.after.String() }

// errGone is a connection the node ended or never accepted.
var errGone = errors.New("connection gone")

// busyCount and otherErrs count a load child's refusals: busy answers,
// and refusals other than busy or a lost connection ("internal").
var busyCount, otherErrs atomic.Int64

// busyAfter reads a busy answer's retry hint (CONNECT_ERROR's
// data.retryAfterMs or an ack's retryAfterMs).
func busyAfter(m string) (time.Duration, bool) {
	if !strings.Contains(m, `"busy"`) {
		return 0, false
	}
	var v struct {
		RetryAfterMs int64
		Data         struct{ RetryAfterMs int64 }
	}
	raw := strings.TrimLeft(m, "0123456789[")
	raw = strings.TrimSuffix(raw, "]")
	_ = json.Unmarshal([]byte(raw), &v)
	ms := max(v.RetryAfterMs, v.Data.RetryAfterMs, 1000)
	return time.Duration(ms) * time.Millisecond, true
}

// loadSession runs one Socket.IO session over a raw WebSocket.
func loadSession(ctx context.Context, plan loadPlan, d loadDevice, base string, joined *atomic.Int64) error {
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}).DialContext(dctx, u, nil)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: %v", errGone, err)
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	read := func() (string, error) {
		_ = ws.SetReadDeadline(time.Now().Add(70 * time.Second))
		_, b, err := ws.ReadMessage()
		return string(b), err
	}
	send := func(s string) error {
		_ = ws.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			return fmt.Errorf("%w: %v", errGone, err)
		}
		return nil
	}
	// expect reads until a message starting with prefix, answering pings.
	expect := func(prefix string) error {
		for {
			m, err := read()
			if err != nil {
				return fmt.Errorf("%w: %v", errGone, err)
			}
			if after, ok := busyAfter(m); ok {
				return errBusy{after}
			}
			switch {
			case m == "2":
				if err := send("3"); err != nil {
					return err
				}
			case strings.HasPrefix(m, prefix):
				return nil
			case strings.HasPrefix(m, "44"):
				return fmt.Errorf("connect refused: %s", m)
			case strings.HasPrefix(m, "43"):
				return fmt.Errorf("refused: %s", m) // an ack, not ok
			}
		}
	}
	if err := expect("0"); err != nil {
		return err
	}
	tok, _ := json.Marshal(d.Token)
	room, _ := json.Marshal(d.Room)
	if plan.Mode == "node" {
		if err := send("40{}"); err != nil {
			return err
		}
		if err := expect("40"); err != nil {
			return err
		}
		if err := send(`421["join",` + string(room) + `]`); err != nil {
			return err
		}
		if err := expect("431"); err != nil {
			return err
		}
	} else {
		if err := send(`40{"role":"device","token":` + string(tok) + `}`); err != nil {
			return err
		}
		if err := expect("40"); err != nil {
			return err
		}
		if err := send(`420["session:verify",{"token":` + string(tok) + `}]`); err != nil {
			return err
		}
		// A refused verify (the store timed out under the storm) is a
		// new attempt, as the appliance makes it.
		if err := expect(`430[{"ok":true`); err != nil {
			return err
		}
		if err := send(`421["room:join",{"roomId":` + string(room) + `}]`); err != nil {
			return err
		}
		if err := expect(`431[{"ok":true`); err != nil {
			return err
		}
	}
	joined.Add(1)
	defer joined.Add(-1)
	return expect("\x00never")
}

// loadFleet is the load child processes of one measurement.
type loadFleet struct {
	mu     sync.Mutex
	counts [][3]int64 // per child: joined, busy answers, other refusals
	procs  []*exec.Cmd
	stdins []interface{ Close() error }
	done   []chan struct{}
}

func (f *loadFleet) joined() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, c := range f.counts {
		n += c[0]
	}
	return n
}

// refusals are the busy answers and the other refusals ("internal")
// the devices have had so far.
func (f *loadFleet) refusals() (busy, other int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.counts {
		busy, other = busy+c[1], other+c[2]
	}
	return busy, other
}

// startLoad starts child processes of at most 15,000 devices each.
func startLoad(b *testing.B, dir, mode string, urls []string, devs []loadDevice) *loadFleet {
	return startLoadRamp(b, dir, mode, urls, devs, 0)
}

// startLoadRamp is startLoad with the fleet's devices started at ramp per
// second (0: a storm).
func startLoadRamp(b *testing.B, dir, mode string, urls []string, devs []loadDevice, ramp float64) *loadFleet {
	b.Helper()
	const perProc = 15000
	f := &loadFleet{}
	for i := 0; i*perProc < len(devs); i++ {
		part := devs[i*perProc : min((i+1)*perProc, len(devs))]
		raw, _ := json.Marshal(loadPlan{URLs: urls, Mode: mode, Devices: part, Ramp: ramp * float64(len(part)) / float64(len(devs))})
		path := filepath.Join(dir, fmt.Sprintf("plan-%s-%d.json", mode, i))
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "TETHER_LOAD_CHILD="+path, "GOMAXPROCS=2")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, _ := cmd.StdoutPipe()
		in, _ := cmd.StdinPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		idx := len(f.counts)
		f.counts = append(f.counts, [3]int64{})
		f.procs = append(f.procs, cmd)
		f.stdins = append(f.stdins, in)
		done := make(chan struct{})
		f.done = append(f.done, done)
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var m struct{ Joined, Busy, Other int64 }
				if json.Unmarshal(sc.Bytes(), &m) == nil {
					f.mu.Lock()
					f.counts[idx] = [3]int64{m.Joined, m.Busy, m.Other}
					f.mu.Unlock()
				}
			}
			_ = cmd.Wait()
		}()
	}
	b.Cleanup(f.stop)
	return f
}

func (f *loadFleet) stop() {
	for i, p := range f.procs {
		_ = f.stdins[i].Close()
		select {
		case <-f.done[i]:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-f.done[i]
		}
	}
	f.procs = nil
}

// waitJoined waits until n devices are in their rooms (bounded).
func (f *loadFleet) waitJoined(b *testing.B, n int64, within time.Duration) time.Duration {
	b.Helper()
	start, logged := time.Now(), time.Now()
	for f.joined() < n {
		if time.Since(start) > within {
			b.Fatalf("%d of %d devices joined after %v", f.joined(), n, within)
		}
		if time.Since(logged) > 10*time.Second {
			busy, other := f.refusals()
			b.Logf("%d of %d devices joined after %v (%d busy answers, %d other refusals so far)", f.joined(), n, time.Since(start).Round(time.Second), busy, other)
			logged = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	busy, other := f.refusals()
	b.Logf("%d devices joined after %v (%d busy answers, %d other refusals)", n, time.Since(start).Round(time.Millisecond), busy, other)
	return time.Since(start)
}

// scaleSetup starts a redis-server with n counters, each with a session.
func scaleSetup(b *testing.B, n int) (*testenv.Redis, string, []loadDevice) {
	b.Helper()
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	st, err := auth.Open(auth.Config{Redis: r.URL(), KDF: testenv.KDF, Logger: testenv.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	return r, b.TempDir(), scaleAccounts(b, st, n)
}

// scaleAccounts makes n counters with a live session each (in the store
// directly: an HTTP login per device would measure the login, not the
// sockets).
func scaleAccounts(b *testing.B, st *auth.Store, n int) []loadDevice {
	b.Helper()
	devs := make([]loadDevice, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				name := fmt.Sprintf("s%d", i)
				if _, err := st.AddAccount(name, "password-x", auth.RoleCounter, name); err != nil {
					failed.Store(err)
					return
				}
				_, tok, err := st.Login(name, "password-x")
				if err != nil {
					failed.Store(err)
					return
				}
				devs[i] = loadDevice{Token: tok, Room: name}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return devs
}

func redisCalls(b *testing.B, url string) int64 {
	opt, _ := redis.ParseURL(url)
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, l := range strings.Split(info, "\n") {
		// cmdstat_get:calls=12,usec=...
		if _, rest, ok := strings.Cut(l, ":calls="); ok && strings.HasPrefix(l, "cmdstat_") && !strings.HasPrefix(l, "cmdstat_info:") {
			v, _, _ := strings.Cut(rest, ",")
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
		}
	}
	return total
}

func BenchmarkClusterScale(b *testing.B) {
	if os.Getenv("TETHER_SCALE") == "" {
		b.Skip("set TETHER_SCALE=1: opens tens of thousands of sockets for minutes (issue 17 §4)")
	}
	for b.Loop() {
		b.Run("cluster", benchCluster)
		b.Run("storm", benchStorm)
		b.Run("rss-vs-node", benchRSSvsNode)
	}
}

func hubNodes(b *testing.B, r *testenv.Redis, dir string, n int) ([]*hubNode, []string) {
	var nodes []*hubNode
	var urls []string
	for i := range n {
		nd := startHubNode(b, fmt.Sprintf("n%d", i), r.URL(), dir)
		nodes = append(nodes, nd)
		urls = append(urls, "http://"+nd.addr)
	}
	return nodes, urls
}

// benchCluster: 3 nodes, TETHER_SCALE_PER_NODE devices on each, joined;
// RSS per socket per node; Redis operations per device per minute idle.
func benchCluster(b *testing.B) {
	per := envInt("TETHER_SCALE_PER_NODE", 17000)
	idle := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("TETHER_SCALE_IDLE")); err == nil && d > 0 {
		idle = d
	}
	r, dir, devs := scaleSetup(b, 3*per)
	nodes, urls := hubNodes(b, r, dir, 3)
	before := make([]float64, 3)
	for i, n := range nodes {
		devs := devs[i*per : (i+1)*per]
		for j := range devs {
			devs[j].Node = i
		}
		before[i] = testenv.ProcStatusMiB(n.cmd.Process.Pid, "VmRSS:")
	}
	// Held, not stormed: the fleet arrives at TETHER_SCALE_RAMP devices a
	// second (default 1000, what three nodes verify here without
	// refusing); benchStorm measures a storm.
	fleet := startLoadRamp(b, dir, "hub", urls, devs, float64(envInt("TETHER_SCALE_RAMP", 1000)))
	took := fleet.waitJoined(b, int64(len(devs)), 20*time.Minute)
	time.Sleep(rssSettle)
	var perSock float64
	for i, n := range nodes {
		after := testenv.ProcStatusMiB(n.cmd.Process.Pid, "VmRSS:")
		perSock += (after - before[i]) * 1024 / float64(per)
		b.Logf("node %d: %d devices, RSS %.0f MiB (%.0f before)", i, per, after, before[i])
	}
	perSock /= 3
	c0 := redisCalls(b, r.URL())
	time.Sleep(idle)
	c1 := redisCalls(b, r.URL())
	opsPerDevMin := float64(c1-c0) / float64(len(devs)) / idle.Minutes()
	b.ReportMetric(float64(len(devs)), "devices")
	b.ReportMetric(took.Seconds(), "connect-s")
	b.ReportMetric(perSock, "KiB/socket")
	b.ReportMetric(opsPerDevMin, "redis-ops/device/min")
	// A node here is bounded by its 20,000 open files, not by memory:
	// project devices per node from 16 GiB of memory.
	b.ReportMetric(16*1024*1024/perSock, "projected-devices/16GiB-node")
	b.Logf("%d devices on 3 nodes joined in %v; %.1f KiB RSS per socket; %.3f Redis ops per device per minute idle (%d in %v)",
		len(devs), took.Round(time.Second), perSock, opsPerDevMin, c1-c0, idle)
}

// benchStorm: 3 nodes with TETHER_STORM_PER_NODE devices each; one is
// killed; time until every device is back in its room on the survivors.
func benchStorm(b *testing.B) {
	per := envInt("TETHER_STORM_PER_NODE", 12000)
	r, dir, devs := scaleSetup(b, 3*per)
	for i := range devs {
		devs[i].Node = i / per
	}
	nodes, urls := hubNodes(b, r, dir, 3)
	fleet := startLoad(b, dir, "hub", urls, devs)
	fleet.waitJoined(b, int64(len(devs)), 20*time.Minute)
	nodes[0].kill()
	killed := time.Now()
	// The killed node's devices notice at once (their connections reset).
	deadline := time.Now().Add(5 * time.Second)
	for fleet.joined() == int64(len(devs)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fleet.waitJoined(b, int64(len(devs)), 10*time.Minute)
	storm := time.Since(killed)
	b.ReportMetric(float64(per), "devices-moved")
	b.ReportMetric(storm.Seconds(), "storm-s")
	b.Logf("kill -9 of a node with %d devices: all %d devices back in their rooms after %v", per, len(devs), storm.Round(time.Millisecond))
}

// rssSettle is the idle time before RSS is read, the same for both
// servers: the Go runtime returns a storm's garbage to the OS gradually.
const rssSettle = 10 * time.Second

// benchRSSvsNode: RSS per idle device socket, one Go hub node against the
// official Node socket.io server (with the official Redis adapter), the
// same number of sockets, in the same run.
func benchRSSvsNode(b *testing.B) {
	n := envInt("TETHER_RSS_SOCKETS", 19000)
	// Both servers get the same ramp, below what a node verifies per
	// second here: this measures what an idle socket costs, not a
	// refused storm's garbage (benchStorm does storms).
	ramp := float64(envInt("TETHER_RSS_RAMP", 500))
	r, dir, devs := scaleSetup(b, n)
	nodes, urls := hubNodes(b, r, dir, 1)
	pid := nodes[0].cmd.Process.Pid
	before := testenv.ProcStatusMiB(pid, "VmRSS:")
	fleet := startLoadRamp(b, dir, "hub", urls, devs, ramp)
	fleet.waitJoined(b, int64(n), 20*time.Minute)
	time.Sleep(rssSettle)
	goKiB := (testenv.ProcStatusMiB(pid, "VmRSS:") - before) * 1024 / float64(n)
	logBreakdown(b, n)
	fleet.stop()
	nodes[0].kill()

	jpid, jsURL := startNodeCluster(b, r.Socket())
	before = testenv.ProcStatusMiB(jpid, "VmRSS:")
	fleet = startLoadRamp(b, dir, "node", []string{jsURL}, devs, ramp)
	fleet.waitJoined(b, int64(n), 20*time.Minute)
	time.Sleep(rssSettle)
	nodeKiB := (testenv.ProcStatusMiB(jpid, "VmRSS:") - before) * 1024 / float64(n)
	b.ReportMetric(goKiB, "go-KiB/socket")
	b.ReportMetric(nodeKiB, "node-KiB/socket")
	b.ReportMetric(goKiB/nodeKiB, "go/node")
	b.Logf("%d idle device sockets: Go hub %.1f KiB each, official Node server %.1f KiB each: ratio %.2f", n, goKiB, nodeKiB, goKiB/nodeKiB)
}

// startNodeCluster runs siotest's cluster.js (the official socket.io
// server with the official Redis adapter; signaling/internal/siotest is
// not importable from here) and returns its pid and URL.
func startNodeCluster(b *testing.B, redisPath string) (int, string) {
	b.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		b.Skip("node not installed")
	}
	dir, _ := filepath.Abs("../../signaling/internal/siotest/testdata/node")
	if err := testenv.NPMInstall(dir); err != nil {
		b.Fatal(err)
	}
	arg, _ := json.Marshal(map[string]any{"redisPath": redisPath})
	cmd := exec.Command(node, "cluster.js", string(arg))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.StdoutPipe()
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		b.Fatal("cluster.js printed nothing")
	}
	var m struct{ Port int }
	if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.Port == 0 {
		b.Fatalf("cluster.js: %s", sc.Bytes())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd.Process.Pid, fmt.Sprintf("http://127.0.0.1:%d", m.Port)
}

// logBreakdown logs where a node's memory per socket goes (heap, goroutine
// stacks, goroutines per socket) when it serves pprof (TETHER_HUB_PPROF).
func logBreakdown(b *testing.B, n int) {
	addr := os.Getenv("TETHER_HUB_PPROF")
	if addr == "" {
		return
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	stat := func(text, name string) float64 {
		_, rest, ok := strings.Cut(text, "\n# "+name+" = ")
		if !ok {
			return 0
		}
		v, _, _ := strings.Cut(rest, "\n")
		f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
		return f
	}
	heap := get("/debug/pprof/heap?debug=1")
	if path := os.Getenv("TETHER_HUB_HEAPPROF"); path != "" {
		_ = os.WriteFile(path, []byte(get("/debug/pprof/heap?gc=1")), 0o644)
		live := get("/debug/pprof/heap?debug=1")
		b.Logf("after a GC: heap in use %.1f KiB per socket", stat(live, "HeapInuse")/1024/float64(n))
	}
	g := 0.0
	if first, _, ok := strings.Cut(get("/debug/pprof/goroutine?debug=1"), "\n"); ok {
		g, _ = strconv.ParseFloat(strings.TrimPrefix(first, "goroutine profile: total "), 64)
	}
	per := func(v float64) float64 { return v / 1024 / float64(n) }
	b.Logf("node per socket (%d sockets): heap in use %.1f KiB, stacks %.1f KiB, spans %.2f KiB, goroutines %.2f; process totals: heap %.0f MiB, stacks %.0f MiB, Sys %.0f MiB",
		n, per(stat(heap, "HeapInuse")), per(stat(heap, "Stack")), per(stat(heap, "MSpan")), g/float64(n),
		stat(heap, "HeapInuse")/(1<<20), stat(heap, "Stack")/(1<<20), stat(heap, "Sys")/(1<<20))
}
