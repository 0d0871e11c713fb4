package hub_test

// BenchmarkAttack runs issue 12's attacks against the hub as a separate
// process (the tether-hub binary built from this tree) and reports the
// hub's peak RSS and open file descriptors during each, and how long the
// counter (signaling.Device in this process) was off the hub during and
// after it. With TETHER_HUB_BEFORE=<a checkout of an older tree> the same
// attacks also run against that tree's binary, and the figures come as
// before/after ratios from the same run:
//
//	git worktree add /tmp/before 9d25b48
//	TETHER_HUB_BEFORE=/tmp/before go test -run '^$' -bench BenchmarkAttack -benchtime 1x ./signaling/hub/
//	git worktree remove /tmp/before
//
// Every attack is bounded (counts, 30 s of observation at most).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/internal/hostile"
	"tether/internal/testenv"
	"tether/signaling"
	"tether/signaling/hub/auth"
	"tether/signaling/socketio"
)

// hubProc is a tether-hub serve process with counter c1 in room r1.
type hubProc struct {
	cmd    *exec.Cmd
	url    string
	addr   string
	turn   string // UDP TURN address
	invite string
	token  string
}

func freePort(b testing.TB, network string) int {
	b.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func moduleRoot(b testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func startHubProc(b testing.TB, bin string) *hubProc {
	b.Helper()
	dir := b.TempDir()
	data := filepath.Join(dir, "hub.db")
	// Account, invite and the device's login are made here, not by the hub
	// process: its password hashing would otherwise leave tens of MiB of
	// heap that hide what an attack costs.
	st, err := auth.Open(auth.Config{Path: data, KDF: testenv.KDF, Logger: testenv.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.AddAccount("c1", "password-c1", auth.RoleCounter, "r1"); err != nil {
		b.Fatal(err)
	}
	inv, err := st.NewInvite("r1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := st.Login("c1", "password-c1")
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	code := inv.Code
	p := &hubProc{addr: fmt.Sprintf("127.0.0.1:%d", freePort(b, "tcp")), turn: fmt.Sprintf("127.0.0.1:%d", freePort(b, "udp")), invite: code, token: token}
	p.url = "http://" + p.addr
	p.cmd = exec.Command(bin, "serve", "-listen", p.addr, "-data", data, "-turn-udp", p.turn, "-public-ip", "127.0.0.1")
	p.cmd.Stderr = io.Discard
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	for i := 0; ; i++ {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			b.Fatal("hub did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// usage samples the process's RSS peak (VmHWM) and its open descriptors.
type usage struct {
	pid     int
	mu      sync.Mutex
	peakFDs int
	// base is the RSS when the attack starts, peak the highest sampled.
	base, peak float64
	stop       chan struct{}
	done       chan struct{}
}

func watchUsage(pid int) *usage {
	// Reset VmHWM (proc(5), clear_refs "5"), so the peak is the attack's
	// and not the start-up's (the device's login hashes a password).
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	u := &usage{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	u.base = testenv.ProcStatusMiB(pid, "VmRSS:")
	go func() {
		defer close(u.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
				u.mu.Lock()
				u.peakFDs = max(u.peakFDs, len(ents))
				u.mu.Unlock()
			}
			if r := testenv.ProcStatusMiB(pid, "VmRSS:"); r > 0 {
				u.mu.Lock()
				u.peak = max(u.peak, r)
				u.mu.Unlock()
			}
			select {
			case <-u.stop:
				return
			case <-t.C:
			}
		}
	}()
	return u
}

// finish returns the peak RSS (VmHWM since the attack began) and its
// growth over the RSS at the start, in MiB, and the peak descriptor count.
// The hub starts at about 50 MiB: its store hashes a dummy password at
// start-up (argon2id) and the Go heap keeps those pages for a while.
func (u *usage) finish() (peak, growth float64, fds int) {
	close(u.stop)
	<-u.done
	peak = max(testenv.ProcStatusMiB(u.pid, "VmHWM:"), u.peak)
	return peak, max(peak-u.base, 0), u.peakFDs
}

// offWatch measures the time the device was off the hub.
type offWatch struct {
	mu        sync.Mutex
	downSince time.Time
	off       time.Duration
	drops     int
}

func (w *offWatch) event(me socketio.ManagerEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch me.Kind {
	case socketio.EventDisconnect:
		if w.downSince.IsZero() {
			w.downSince = time.Now()
			w.drops++
		}
	case socketio.EventConnect:
		if !w.downSince.IsZero() {
			w.off += time.Since(w.downSince)
			w.downSince = time.Time{}
		}
	}
}

// state returns the time off so far and whether the device is up now.
func (w *offWatch) state() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.downSince.IsZero() {
		return w.off + time.Since(w.downSince), false
	}
	return w.off, true
}

func benchDevice(b testing.TB, p *hubProc) *offWatch {
	w := &offWatch{}
	joined := make(chan struct{}, 1)
	d, err := signaling.NewDevice(signaling.DeviceConfig{HubURL: p.url, Token: func() string { return p.token },
		Handlers:      signaling.Handlers{Joined: func(signaling.JoinReply) { joined <- struct{}{} }},
		OnSocketEvent: w.event, Logger: testenv.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case <-joined:
	case <-time.After(wait):
		b.Fatal("device did not join")
	}
	return w
}

// joinRaw is a hostile customer from local joining r1; errors are the
// attack's outcome, not the benchmark's.
func joinRaw(p *hubProc, local string) (*rawDevice, joinAnswer, error) {
	c, err := dialWS(p.addr, local)
	if err != nil {
		return nil, joinAnswer{}, err
	}
	c.c.SetDeadline(time.Now().Add(wait))
	defer c.c.SetDeadline(time.Time{})
	if m, err := c.connect(map[string]string{"role": "customer", "invite": p.invite, "name": "x"}); err != nil || !strings.HasPrefix(m, "40{") {
		c.c.Close()
		return nil, joinAnswer{}, fmt.Errorf("connect %q %v", m, err)
	}
	c.write(`420["room:join",{"roomId":"r1"}]`)
	m, err := c.readUntil("430")
	if err != nil {
		c.c.Close()
		return nil, joinAnswer{}, err
	}
	var r []joinAnswer
	json.Unmarshal([]byte(m[3:]), &r)
	if len(r) != 1 {
		c.c.Close()
		return nil, joinAnswer{}, fmt.Errorf("join %q", m)
	}
	return c, r[0], nil
}

// drain reads c until it ends (the attacker does not care what it gets);
// the channel is closed then.
func drain(c *rawDevice) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := c.read(); err != nil {
				return
			}
		}
	}()
	return done
}

type attack func(b *testing.B, p *hubProc) map[string]float64

var attacks = []struct {
	name string
	run  attack
}{
	{"signal_flood", attackSignalFlood},
	{"unauth_attachments", attackUnauthAttachments},
	{"turn_allocations", attackTURN},
	{"queue_flood", attackQueue},
	{"slow_clients", attackSlowClients},
}

// attackSignalFlood: the customer in the call sends 300 signals of 60 KB
// in bursts of 100 (the Engine.IO packet rate's burst), reconnecting
// when the hub throws it out (at most 10 times).
func attackSignalFlood(b *testing.B, p *hubProc) map[string]float64 {
	big := strings.Repeat("a", 60_000)
	sent, conns := 0, 0
	for ; conns < 10 && sent < 300; conns++ {
		c, j, err := joinRaw(p, "127.0.0.2")
		if err != nil || j.Position != 0 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		drain(c)
		for sent < 300 {
			if sent > 0 && sent%100 == 0 {
				time.Sleep(2 * time.Second)
			}
			if c.write(fmt.Sprintf(`42%d["signal",{"to":"dev-c1","description":{"type":"offer","sdp":%q}}]`, sent+1, big)) != nil {
				break
			}
			sent++
		}
		defer c.c.Close()
	}
	return map[string]float64{"connections": float64(conns)}
}

// attackUnauthAttachments: 50 websockets that never CONNECT announce a
// 64-attachment packet and send 63 × 64 KiB each.
func attackUnauthAttachments(b *testing.B, p *hubProc) map[string]float64 {
	att := make([]byte, 64<<10-64)
	var open []*rawDevice
	var ended []<-chan struct{}
	refused := 0
	for range 50 {
		c, err := dialWS(p.addr, "127.0.0.2")
		if err != nil {
			refused++
			continue
		}
		open = append(open, c)
		ended = append(ended, drain(c))
		c.write(`4564-["x",{"_placeholder":true,"num":0}]`)
		for range 63 {
			if c.frame(2, att) != nil {
				break
			}
		}
	}
	time.Sleep(2 * time.Second)
	alive := 0
	for i, c := range open {
		select {
		case <-ended[i]:
		default:
			alive++
		}
		c.c.Close()
	}
	return map[string]float64{"handshakes-refused": float64(refused), "open-after-2s": float64(alive)}
}

// attackTURN: the customer in the call makes 150 allocations with its
// credentials and asks each for a loopback peer, where a UDP listener
// counts what arrives.
func attackTURN(b *testing.B, p *hubProc) map[string]float64 {
	c, j, err := joinRaw(p, "127.0.0.2")
	if err != nil {
		b.Fatal(err)
	}
	defer c.c.Close()
	drain(c)
	var ice []signaling.ICEServer
	for _, raw := range j.ICEServers {
		var s signaling.ICEServer
		json.Unmarshal(raw, &s)
		ice = append(ice, s)
	}
	if len(ice) == 0 {
		return map[string]float64{"allocations": 0}
	}
	entry := turnEntry(b, ice)
	target, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer target.Close()
	got := make(chan struct{}, 1024)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := target.ReadFrom(buf); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	n := 0
	for i := range 150 {
		a, err := turnAllocate(b, p.turn, entry)
		if err != nil {
			continue
		}
		defer a.close()
		n++
		if i < 5 {
			a.relay.WriteTo([]byte("into the hub's network"), target.LocalAddr())
		}
	}
	time.Sleep(500 * time.Millisecond)
	return map[string]float64{"allocations": float64(n), "relayed-to-loopback": float64(len(got))}
}

// queueWaiting reads the hub's queue gauge.
func queueWaiting(p *hubProc) float64 {
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "tether_hub_queue_waiting "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// attackQueue: with a customer in the call, 100 queue places from one
// address with one invite; then they drop at TCP level.
func attackQueue(b *testing.B, p *hubProc) map[string]float64 {
	first, _, err := joinRaw(p, "127.0.0.5")
	if err != nil {
		b.Fatal(err)
	}
	defer first.c.Close()
	var held []*rawDevice
	for range 100 {
		c, j, err := joinRaw(p, "127.0.0.2")
		if err != nil {
			continue
		}
		if j.OK {
			held = append(held, c)
		} else {
			c.c.Close()
		}
	}
	places := len(held)
	for _, c := range held {
		c.c.Close()
	}
	time.Sleep(10 * time.Second)
	return map[string]float64{"places": float64(places), "places-10s-after-drop": queueWaiting(p)}
}

// attackSlowClients: 100 connections sending a login body a byte a second
// and 100 idle keep-alive connections; how many are open after 35 s.
func attackSlowClients(b *testing.B, p *hubProc) map[string]float64 {
	dial := func(local string) net.Conn {
		c, err := hostile.Dialer(local).Dial("tcp", p.addr)
		if err != nil {
			return nil
		}
		return c
	}
	var slow, idle []net.Conn
	for range 100 {
		if c := dial("127.0.0.3"); c != nil {
			fmt.Fprintf(c, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
			slow = append(slow, c)
		}
		if c := dial("127.0.0.4"); c != nil {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			idle = append(idle, c)
		}
	}
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(make([]byte, 512))
	}
	for range 35 {
		for _, c := range slow {
			c.Write([]byte(" "))
		}
		time.Sleep(time.Second)
	}
	open := 0
	for _, c := range append(slow, idle...) {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			open++
		}
		c.Close()
	}
	return map[string]float64{"open-after-35s": float64(open)}
}

type result struct {
	rss, growth, off float64
	fds              int
	drops            int
	extra            map[string]float64
}

func (r result) report(b *testing.B, prefix string) {
	b.ReportMetric(r.rss, prefix+"peak-MiB")
	b.ReportMetric(r.growth, prefix+"growth-MiB")
	b.ReportMetric(float64(r.fds), prefix+"peak-fds")
	b.ReportMetric(r.off, prefix+"device-off-s")
	b.ReportMetric(float64(r.drops), prefix+"device-drops")
	for k, v := range r.extra {
		b.ReportMetric(v, prefix+k)
	}
}

func runAttack(b *testing.B, bin string, a attack) result {
	p := startHubProc(b, bin)
	w := benchDevice(b, p)
	u := watchUsage(p.cmd.Process.Pid)
	extra := a(b, p)
	// Observe for 5 s after the attack, or until the device is back (30 s
	// at most).
	end := time.Now().Add(30 * time.Second)
	settle := time.Now().Add(5 * time.Second)
	for {
		_, up := w.state()
		if (up && time.Now().After(settle)) || time.Now().After(end) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rss, growth, fds := u.finish()
	off, _ := w.state()
	w.mu.Lock()
	drops := w.drops
	w.mu.Unlock()
	p.cmd.Process.Kill()
	p.cmd.Wait()
	return result{rss: rss, growth: growth, fds: fds, off: off.Seconds(), drops: drops, extra: extra}
}

func BenchmarkAttack(b *testing.B) {
	dir := b.TempDir()
	after := filepath.Join(dir, "hub-after")
	testenv.GoBuild(b, moduleRoot(b), "./cmd/tether-hub", after)
	before := ""
	if src := os.Getenv("TETHER_HUB_BEFORE"); src != "" {
		before = filepath.Join(dir, "hub-before")
		testenv.GoBuild(b, src, "./cmd/tether-hub", before)
	}
	for _, a := range attacks {
		b.Run(a.name, func(b *testing.B) {
			for range b.N {
				ra := runAttack(b, after, a.run)
				ra.report(b, "after-")
				if before == "" {
					continue
				}
				rb := runAttack(b, before, a.run)
				rb.report(b, "before-")
				b.ReportMetric(ra.rss/rb.rss, "rss-after/before")
				b.ReportMetric(float64(ra.fds)/float64(rb.fds), "fds-after/before")
				if rb.growth > 0 {
					b.ReportMetric(ra.growth/rb.growth, "growth-after/before")
				}
			}
		})
	}
}
