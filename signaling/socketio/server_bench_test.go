package socketio_test

// Benchmarks of the server's cost per device: memory per idle websocket
// socket, CPU per heartbeat, and a reconnect storm. The clients are raw
// websocket clients written here (one net.Conn each, no goroutine when
// idle) so that they add as little as possible to what is measured.
//
//	go test -run '^$' -bench 'BenchmarkServer' -benchtime 1x ./signaling/socketio/
//	SIO_BENCH_CONNS=9000 go test -run '^$' -bench 'BenchmarkServerIdle' -benchtime 1x ./signaling/socketio/

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tether/signaling/engineio"
	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

func benchConns(def int) int {
	if v, err := strconv.Atoi(os.Getenv("SIO_BENCH_CONNS")); err == nil && v > 0 {
		return v
	}
	return def
}

// benchHub is a socketio.Server on loopback with a minimal device
// protocol: CONNECT with a token, room:join with an ack.
type benchHub struct {
	srv  *socketio.Server
	hs   *http.Server
	ln   net.Listener
	addr string
}

func startBenchHub(tb testing.TB, ecfg engineio.ServerConfig, addr string) *benchHub {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	ecfg.Logger = log
	srv, err := socketio.NewServer(socketio.ServerConfig{
		Engine: ecfg,
		Logger: log,
		Authorize: func(auth json.RawMessage, _ *http.Request) (any, error) {
			if !bytes.Contains(auth, []byte(`"good-token"`)) {
				return nil, errors.New("unauthorized")
			}
			return "dev", nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv.On("room:join", func(s *socketio.Socket, args socketio.Args, ack func(...any)) {
		var p struct {
			RoomID string `json:"roomId"`
		}
		_ = args.Decode(0, &p)
		s.Join(p.RoomID)
		if ack != nil {
			ack(map[string]any{"ok": true})
		}
	})
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := listenRetry(addr)
	if err != nil {
		tb.Fatal(err)
	}
	h := &benchHub{srv: srv, ln: ln, addr: ln.Addr().String()}
	h.hs = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.hs.Serve(ln) }()
	return h
}

func (h *benchHub) stop() {
	_ = h.hs.Close()
	_ = h.srv.Close()
}

// rawClient is a minimal Engine.IO/Socket.IO websocket client: it holds
// only its net.Conn once connected.
type rawClient struct {
	c    net.Conn
	rest []byte // bytes read past the HTTP response
}

func (r *rawClient) read(p []byte) (int, error) {
	if len(r.rest) > 0 {
		n := copy(p, r.rest)
		r.rest = r.rest[n:]
		return n, nil
	}
	return r.c.Read(p)
}

func (r *rawClient) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := r.read(p)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// readFrame reads one server frame (unmasked) and returns its payload.
func (r *rawClient) readFrame() (byte, []byte, error) {
	var h [8]byte
	if err := r.readFull(h[:2]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if err := r.readFull(h[:2]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if err := r.readFull(h[:8]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > 1<<20 {
		return 0, nil, errors.New("frame too large")
	}
	p := make([]byte, n)
	return h[0] & 0x0f, p, r.readFull(p)
}

// writeText writes one masked text frame (a zero mask key: valid, and
// the payload needs no transformation).
func (r *rawClient) writeText(s string) error {
	var b []byte
	if len(s) < 126 {
		b = append(b, 0x81, 0x80|byte(len(s)))
	} else {
		b = append(b, 0x81, 0x80|126, byte(len(s)>>8), byte(len(s)))
	}
	b = append(b, 0, 0, 0, 0)
	b = append(b, s...)
	_, err := r.c.Write(b)
	return err
}

// dialRaw opens a websocket session, connects "/" with the token and
// joins room; it returns once the join is acknowledged.
func dialRaw(addr, room string) (*rawClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	buf := make([]byte, 512)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			c.Close()
			return nil, err
		}
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101")) {
				c.Close()
				return nil, fmt.Errorf("upgrade refused: %q", buf[:n])
			}
			r := &rawClient{c: c, rest: append([]byte(nil), buf[i+4:n]...)}
			return r, r.handshake(room)
		}
		if n == len(buf) {
			c.Close()
			return nil, errors.New("response header too long")
		}
	}
}

func (r *rawClient) handshake(room string) error {
	fail := func(err error) error { r.c.Close(); return err }
	if _, p, err := r.readFrame(); err != nil || len(p) == 0 || p[0] != '0' {
		return fail(fmt.Errorf("open: %q %v", p, err))
	}
	if err := r.writeText(`40{"role":"device","token":"good-token"}`); err != nil {
		return fail(err)
	}
	if _, p, err := r.readFrame(); err != nil || !bytes.HasPrefix(p, []byte("40{")) {
		return fail(fmt.Errorf("connect: %q %v", p, err))
	}
	if err := r.writeText(`420["room:join",{"roomId":"` + room + `"}]`); err != nil {
		return fail(err)
	}
	for {
		_, p, err := r.readFrame()
		if err != nil {
			return fail(err)
		}
		if bytes.HasPrefix(p, []byte("430")) {
			break
		}
	}
	r.rest = nil
	_ = r.c.SetDeadline(time.Time{})
	return nil
}

// heapAndStacks is the Go memory in use after a full collection.
func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkServerIdleWebSocket measures the memory and goroutines one idle
// device socket (websocket, CONNECT with auth, one room) costs the server.
// B/conn-total counts both ends (the raw client holds only a net.Conn);
// B/conn-tcp-pair is a plain accepted-and-held TCP pair measured in the
// same run, so B/conn-server ≈ total − tcp-pair/2.
func BenchmarkServerIdleWebSocket(b *testing.B) {
	n := benchConns(2000)
	for range b.N {
		// Baseline: n TCP pairs, held without goroutines.
		base0 := heapAndStacks()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		var held []net.Conn
		var hmu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				hmu.Lock()
				held = append(held, c)
				hmu.Unlock()
			}
		}()
		clients := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
		}
		for {
			hmu.Lock()
			k := len(held)
			hmu.Unlock()
			if k == n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		pair := float64(heapAndStacks()-base0) / float64(n)
		ln.Close()
		for _, c := range clients {
			c.Close()
		}
		for _, c := range held {
			c.Close()
		}
		clients, held = nil, nil

		hub := startBenchHub(b, engineio.ServerConfig{}, "")
		g0 := runtime.NumGoroutine()
		m0 := heapAndStacks()
		raws := make([]*rawClient, 0, n)
		start := time.Now()
		for i := range n {
			r, err := dialRaw(hub.addr, "room-"+strconv.Itoa(i%100))
			if err != nil {
				b.Fatalf("client %d: %v", i, err)
			}
			raws = append(raws, r)
		}
		setup := time.Since(start)
		total := float64(heapAndStacks()-m0) / float64(n)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.StackInuse)/float64(n), "B/conn-stack")
		if f := os.Getenv("SIO_BENCH_HEAPPROFILE"); f != "" {
			if w, err := os.Create(f); err == nil {
				_ = pprof.WriteHeapProfile(w)
				w.Close()
			}
		}
		gor := float64(runtime.NumGoroutine()-g0) / float64(n)
		if got := hub.srv.Count(); got != n {
			b.Fatalf("%d sockets on the server, want %d", got, n)
		}
		b.ReportMetric(total, "B/conn-total")
		b.ReportMetric(pair, "B/conn-tcp-pair")
		b.ReportMetric(total-pair/2, "B/conn-server")
		b.ReportMetric(gor, "goroutines/conn")
		b.ReportMetric(float64(n), "conns")
		b.ReportMetric(float64(setup.Microseconds())/float64(n), "µs/connect-serial")
		for _, r := range raws {
			r.c.Close()
		}
		hub.stop()
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServerPingCPU measures the CPU of the heartbeat: n idle device
// sockets pinged every 200 ms, each raw client answering with a pong from
// its own goroutine. µs-cpu/ping counts the whole process (server and
// clients: an upper bound for the server's share); %core-50k-25s projects
// the server-plus-client cost to 50k devices at the default 25 s interval.
func BenchmarkServerPingCPU(b *testing.B) {
	n := benchConns(1000)
	const interval = 200 * time.Millisecond
	for range b.N {
		hub := startBenchHub(b, engineio.ServerConfig{PingInterval: interval, PingTimeout: 5 * time.Second}, "")
		raws := make([]*rawClient, 0, n)
		for i := range n {
			r, err := dialRaw(hub.addr, "room-"+strconv.Itoa(i%100))
			if err != nil {
				b.Fatal(err)
			}
			raws = append(raws, r)
		}
		var pongs atomic.Int64
		var wg sync.WaitGroup
		for _, r := range raws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, p, err := r.readFrame()
					if err != nil {
						return
					}
					if string(p) == "2" {
						if r.writeText("3") != nil {
							return
						}
						pongs.Add(1)
					}
				}
			}()
		}
		time.Sleep(2 * interval) // warm up: every socket in its ping cycle
		p0, c0, t0 := pongs.Load(), cpuTime(), time.Now()
		time.Sleep(3 * time.Second)
		p1, c1, wall := pongs.Load(), cpuTime(), time.Since(t0)
		pings := float64(p1 - p0)
		if pings == 0 {
			b.Fatal("no pings answered")
		}
		us := float64((c1 - c0).Microseconds()) / pings
		b.ReportMetric(us, "µs-cpu/ping")
		b.ReportMetric(pings/wall.Seconds(), "pings/s")
		b.ReportMetric(us*50000/25/1e6*100, "%core-50k-25s")
		if st := hub.srv.Engine().Stats(); st.WebSocket != n {
			b.Fatalf("sessions lost during the run: %+v", st)
		}
		for _, r := range raws {
			r.c.Close()
		}
		wg.Wait()
		hub.stop()
	}
}

// BenchmarkServerReconnectStorm restarts the hub under n connected devices
// and measures the time until every one has reconnected and re-joined its
// room, all of them redialling at the same moment (the worst case: no
// client-side backoff spreads them).
func BenchmarkServerReconnectStorm(b *testing.B) {
	n := benchConns(1000)
	for range b.N {
		hub := startBenchHub(b, engineio.ServerConfig{}, "")
		addr := hub.addr
		raws := make([]*rawClient, n)
		for i := range n {
			r, err := dialRaw(addr, "room-"+strconv.Itoa(i%100))
			if err != nil {
				b.Fatal(err)
			}
			raws[i] = r
		}
		hub.stop()
		for _, r := range raws {
			r.c.Close()
		}
		hub = startBenchHub(b, engineio.ServerConfig{}, addr)
		start := time.Now()
		var wg sync.WaitGroup
		var failed atomic.Int64
		var last atomic.Int64
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for try := 0; ; try++ {
					r, err := dialRaw(addr, "room-"+strconv.Itoa(i%100))
					if err == nil {
						raws[i] = r
						last.Store(int64(time.Since(start)))
						return
					}
					if try == 5 {
						failed.Add(1)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d devices could not reconnect", failed.Load())
		}
		all := time.Duration(last.Load())
		if got := hub.srv.Count(); got != n {
			b.Fatalf("%d sockets after the storm, want %d", got, n)
		}
		b.ReportMetric(float64(all.Milliseconds()), "ms-all-rejoined")
		b.ReportMetric(float64(n)/all.Seconds(), "rejoins/s")
		for _, r := range raws {
			r.c.Close()
		}
		hub.stop()
	}
}

// BenchmarkServerReconnectStormGoClients restarts the hub under n of our
// Go clients (socketio.Client with its default backoff and port probing)
// and measures the time from the restart until every client's connect hook
// has re-joined its room.
func BenchmarkServerReconnectStormGoClients(b *testing.B) {
	n := benchConns(200)
	for range b.N {
		hub := startBenchHub(b, engineio.ServerConfig{}, "")
		addr := hub.addr
		var joins atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range n {
			var c *socketio.Client
			cfg := socketio.Config{
				Engine:     engineio.Config{URL: "http://" + addr},
				Persistent: true,
				Auth:       func() map[string]any { return map[string]any{"role": "device", "token": "good-token"} },
				Logger:     slog.New(slog.DiscardHandler),
				OnConnect: func(ctx context.Context, _ bool) error {
					if _, err := c.EmitWithAck(ctx, "room:join", map[string]any{"roomId": "room-" + strconv.Itoa(i%100)}); err != nil {
						return err
					}
					joins.Add(1)
					return nil
				},
			}
			var err error
			if c, err = socketio.New(cfg); err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Run(ctx) }()
		}
		waitCount := func(want int64, d time.Duration) bool {
			deadline := time.Now().Add(d)
			for joins.Load() < want && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			return joins.Load() >= want
		}
		if !waitCount(int64(n), 60*time.Second) {
			b.Fatalf("only %d of %d joined", joins.Load(), n)
		}
		hub.stop()
		hub = startBenchHub(b, engineio.ServerConfig{}, addr)
		start := time.Now()
		if !waitCount(int64(2*n), 60*time.Second) {
			b.Fatalf("only %d of %d re-joined", joins.Load()-int64(n), n)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-all-rejoined")
		cancel()
		wg.Wait()
		hub.stop()
	}
}

// rssBytes is the resident set size of process pid ("self" for ours).
func rssBytes(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "VmRSS:" {
			kb, _ := strconv.ParseUint(string(f[1]), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// listenerPID finds the process listening on 127.0.0.1:port through
// /proc/net/tcp and the processes' socket descriptors (Linux only).
func listenerPID(port int) string {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return ""
	}
	want := fmt.Sprintf(":%04X", port)
	inode := ""
	for _, line := range bytes.Split(b, []byte("\n"))[1:] {
		f := bytes.Fields(line)
		if len(f) > 9 && bytes.HasSuffix(f[1], []byte(want)) && string(f[3]) == "0A" {
			inode = string(f[9])
		}
	}
	if inode == "" {
		return ""
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); err == nil && l == "socket:["+inode+"]" {
				return p.Name()
			}
		}
	}
	return ""
}

// BenchmarkServerIdleRSSVsNode compares the resident memory one idle device
// socket costs our server and the official socket.io 4.8.4 server (Node),
// with the same raw clients doing the same CONNECT and room:join. Ours is
// measured in-process (its RSS also holds the raw clients' net.Conns,
// ~0.4 KB each), Node's in its own process.
func BenchmarkServerIdleRSSVsNode(b *testing.B) {
	n := benchConns(2000)
	for range b.N {
		node := siotest.StartServer(b, siotest.ServerOptions{})
		pid := listenerPID(node.Port())
		if pid == "" {
			b.Skip("cannot find the node server's pid (needs Linux /proc)")
		}
		measure := func(pid, addr string) float64 {
			runtime.GC()
			r0 := rssBytes(pid)
			raws := make([]*rawClient, 0, n)
			for i := range n {
				r, err := dialRaw(addr, "room-"+strconv.Itoa(i%100))
				if err != nil {
					b.Fatalf("client %d: %v", i, err)
				}
				raws = append(raws, r)
			}
			time.Sleep(500 * time.Millisecond) // let Node's GC settle
			runtime.GC()
			r1 := rssBytes(pid)
			for _, r := range raws {
				r.c.Close()
			}
			return float64(int64(r1)-int64(r0)) / float64(n)
		}
		nodePer := measure(pid, strings.TrimPrefix(node.URL(), "http://"))
		node.Kill()
		hub := startBenchHub(b, engineio.ServerConfig{}, "")
		oursPer := measure("self", hub.addr)
		hub.stop()
		b.ReportMetric(nodePer, "B/conn-rss-node")
		b.ReportMetric(oursPer, "B/conn-rss-ours")
		b.ReportMetric(oursPer/nodePer, "ours/node")
	}
}
