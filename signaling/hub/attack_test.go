package hub_test

// Issue 12: hostile clients against the real hub on loopback. Each test
// runs one attack from its own source address (127.0.0.x, so per-address
// bounds do not touch the counter on 127.0.0.1) and checks that it is
// refused and that the counter stays online throughout: its socket never
// drops and it stays in its room.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/signaling/hub"
)

// metric reads one series from GET /metrics (0 when absent).
func metric(t testing.TB, e *env, series string) float64 {
	t.Helper()
	resp, err := http.Get(e.h.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, _ := strconv.ParseFloat(val, 64)
			return v
		}
	}
	return 0
}

// deviceStayed checks that the counter never left: no socket drop seen by
// the device, one connection ever, online in its room now.
func deviceStayed(t *testing.T, e *env, d *device) {
	t.Helper()
	if n := d.drops.Load(); n != 0 {
		t.Errorf("the device's socket dropped %d times during the attack", n)
	}
	f, err := e.h.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f {
		if c.Account == "c1" && (!c.Online || c.Connects != 1) {
			t.Errorf("device after the attack: online=%v connects=%d", c.Online, c.Connects)
		}
	}
}

// onlineDevice starts the counter c1 and waits until it is in its room.
func onlineDevice(t *testing.T, e *env) *device {
	t.Helper()
	d := e.device(e.token("c1"))
	if got := d.ev.next(t); got != "joined device:dev-c1" {
		t.Fatalf("device: %s", got)
	}
	return d
}

type joinAnswer struct {
	OK         bool              `json:"ok"`
	Error      string            `json:"error"`
	UserID     string            `json:"userId"`
	Position   int               `json:"position"`
	ICEServers []json.RawMessage `json:"iceServers"`
}

// rawCustomer connects a hostile customer from local with invite and
// joins room r1 (ack id 0).
func rawCustomer(t *testing.T, e *env, local, invite string) (*rawDevice, joinAnswer) {
	t.Helper()
	c, err := dialWS(e.h.Addr().String(), local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.c.Close() })
	if m, err := c.connect(map[string]string{"role": "customer", "invite": invite, "name": "x"}); err != nil || !strings.HasPrefix(m, "40{") {
		t.Fatalf("connect: %q %v", m, err)
	}
	c.write(`420["room:join",{"roomId":"r1"}]`)
	m, err := c.readUntil("430")
	if err != nil {
		t.Fatal(err)
	}
	var r []joinAnswer
	if err := json.Unmarshal([]byte(m[3:]), &r); err != nil || len(r) != 1 {
		t.Fatalf("join answer %q: %v", m, err)
	}
	return c, r[0]
}

// countAcks reads until the connection ends (within d) and counts the
// acks by error string ("ok" for ok).
func countAcks(c *rawDevice, within time.Duration) (map[string]int, bool) {
	got := map[string]int{}
	c.c.SetReadDeadline(time.Now().Add(within))
	for {
		m, err := c.read()
		if err != nil {
			var ne net.Error
			return got, !(errors.As(err, &ne) && ne.Timeout())
		}
		if m == "2" {
			c.write("3")
			continue
		}
		if !strings.HasPrefix(m, "43") {
			continue
		}
		var r []struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		i := strings.IndexByte(m, '[')
		if json.Unmarshal([]byte(m[i:]), &r) == nil && len(r) == 1 {
			if r[0].OK {
				got["ok"]++
			} else {
				got[r[0].Error]++
			}
		}
	}
}

// Item 1: a customer in the call floods the counter with signals. Oversize
// signals are refused with too_large, a burst past the rate with
// rate_limited, and past the strike bound the sender is disconnected; the
// counter gets at most the burst and never leaves.
func TestAttackSignalFlood(t *testing.T) {
	e := startHub(t, "", nil)
	d := onlineDevice(t, e)
	inv := e.invite("r1", time.Hour)

	// 100 signals of 60 KB (the attack).
	c, j := rawCustomer(t, e, "127.0.0.2", inv)
	if !j.OK || j.Position != 0 {
		t.Fatalf("join %+v", j)
	}
	d.ev.expect(t, "user:joined "+j.UserID)
	big := strings.Repeat("a", 60_000)
	for i := range 100 {
		if c.write(fmt.Sprintf(`42%d["signal",{"to":"dev-c1","description":{"type":"offer","sdp":%q}}]`, i+1, big)) != nil {
			break // closed by the hub
		}
	}
	acks, closed := countAcks(c, 10*time.Second)
	if !closed || acks["too_large"] == 0 || acks["ok"] != 0 {
		t.Fatalf("oversize flood: acks %v, sender closed %v", acks, closed)
	}
	d.ev.expect(t, "user:left "+j.UserID)

	// 300 small signals as fast as possible: the burst passes, then
	// rate_limited, then the sender is gone.
	c2, j2 := rawCustomer(t, e, "127.0.0.2", inv)
	if j2.Position != 0 {
		t.Fatalf("second join %+v", j2)
	}
	d.ev.expect(t, "user:joined "+j2.UserID)
	for i := range 300 {
		if c2.write(fmt.Sprintf(`42%d["signal",{"to":"dev-c1","candidate":{"candidate":"candidate:%d 1 udp 1 192.0.2.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}]`, i+1, i)) != nil {
			break
		}
	}
	acks, closed = countAcks(c2, 10*time.Second)
	if !closed || acks["rate_limited"] == 0 || acks["ok"] == 0 || acks["ok"] > 100 {
		t.Fatalf("rate flood: acks %v, sender closed %v", acks, closed)
	}
	got := 0
	for done := false; !done; {
		select {
		case s := <-d.ev.ch:
			if strings.HasPrefix(s, "signal ") {
				got++
			}
			done = strings.HasPrefix(s, "user:left "+j2.UserID)
		case <-time.After(wait):
			t.Fatal("no user:left for the flooder")
		}
	}
	if got != acks["ok"] {
		t.Errorf("device got %d signals, the hub acknowledged %d", got, acks["ok"])
	}
	// The second flooder may meet the Engine.IO packet rate (50/s) first.
	if v := metric(t, e, "tether_hub_signal_floods_total"); v < 1 {
		t.Errorf("signal floods metric %v", v)
	}
	deviceStayed(t, e, d)

	// A real customer still gets through.
	cu := e.customer(inv, "r1", "Ann")
	cu.ev.expect(t, "joined 0")
	d.ev.expect(t, "user:joined "+cu.id())
	if err := d.SendSignal(ctxT(t), offer(cu.id())); err != nil {
		t.Fatal(err)
	}
	cu.ev.expect(t, "signal dev-c1 offer")
}

// Item 1: traffic relayed for someone else never closes the receiver. A
// counter that does not read for a moment (a tiny receive buffer) while
// the customer sends signals as fast as it can loses some (counted as
// receiver_slow), and keeps its socket.
func TestAttackSlowReceiver(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) { c.SignalRate, c.RateLimit = -1, -1 })
	tok := e.token("c1")
	dev, err := dialWSBuf(e.h.Addr().String(), "", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.c.Close()
	if m, err := dev.connect(map[string]string{"role": "device", "token": tok}); err != nil || !strings.HasPrefix(m, "40{") {
		t.Fatalf("connect %q %v", m, err)
	}
	dev.write(`421["session:verify",{"token":"` + tok + `"}]`)
	if _, err := dev.readUntil("431"); err != nil {
		t.Fatal(err)
	}
	dev.write(`422["room:join",{"roomId":"r1"}]`)
	if _, err := dev.readUntil("432"); err != nil {
		t.Fatal(err)
	}
	c := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	c.ev.expect(t, "joined 0")
	if _, err := dev.readUntil(`42["room:user:joined"`); err != nil {
		t.Fatal(err)
	}
	// The counter stops reading; 600 signals of 15 KB (9 MB) come in.
	s := offer("dev-c1")
	s.Description.SDP = strings.Repeat("a", 15_000)
	for range 600 {
		if err := c.EmitVolatile(ctxT(t), "signal", s); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(wait)
	for metric(t, e, `tether_hub_signals_total{result="receiver_slow"}`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no signal dropped for the slow receiver")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It reads again: its socket is alive and answers a keep-alive.
	dev.write(`429["keepalive",{"t":1}]`)
	dev.c.SetReadDeadline(time.Now().Add(wait))
	if _, err := dev.readUntil("439"); err != nil {
		t.Fatalf("slow receiver lost its socket: %v", err)
	}
	f, _ := e.h.Fleet()
	if !f[0].Online || !f[0].InCall {
		t.Fatalf("fleet %+v", f[0])
	}
}

// Item 2: memory without authentication. Binary before CONNECT closes the
// connection at once, one packet's attachments are bounded by maxPayload
// in total, and sessions are bounded per address and in total.
func TestAttackUnauthenticated(t *testing.T) {
	e := startHub(t, "", nil)
	d := onlineDevice(t, e)
	addr := e.h.Addr().String()
	att := make([]byte, 63<<10)
	// The attack: a 64-attachment packet announced before CONNECT.
	for i := range 30 {
		c, err := dialWS(addr, "127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			c.write(`564-["x",{"_placeholder":true,"num":0}]`)
		}
		for range 3 {
			if c.frame(2, att) != nil {
				break
			}
		}
		if err := c.closed(5 * time.Second); err != nil {
			t.Fatalf("binary before CONNECT: %v", err)
		}
		c.c.Close()
	}
	// After a CONNECT with an invite: 64 × 63 KiB announced, closed once
	// the total passes maxPayload (64 KiB).
	c, err := dialWS(addr, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := c.connect(map[string]string{"role": "customer", "invite": e.invite("r1", time.Hour)}); err != nil || !strings.HasPrefix(m, "40{") {
		t.Fatalf("connect %q %v", m, err)
	}
	c.write(`564-["x",{"_placeholder":true,"num":0}]`)
	for range 64 {
		if c.frame(2, att) != nil {
			break
		}
	}
	if err := c.closed(5 * time.Second); err != nil {
		t.Fatalf("attachments above maxPayload: %v", err)
	}
	c.c.Close()

	// 40 sessions from one address: 32 open, 8 refused.
	var open []*rawDevice
	refused := 0
	for range 40 {
		c, err := dialWS(addr, "127.0.0.3")
		if err != nil {
			if !strings.Contains(err.Error(), "503") {
				t.Fatal(err)
			}
			refused++
			continue
		}
		open = append(open, c)
	}
	if len(open) != 32 || refused != 8 {
		t.Fatalf("sessions from one address: %d open, %d refused", len(open), refused)
	}
	if v := metric(t, e, `tether_hub_sessions_refused_total{bound="per_addr"}`); v != 8 {
		t.Fatalf("refused metric %v", v)
	}
	for _, c := range open {
		c.c.Close()
	}
	deviceStayed(t, e, d)

	// The total bound.
	e2 := startHub(t, "", func(c *hub.Config) { c.MaxSessions = 2 })
	for i := range 3 {
		c, err := dialWS(e2.h.Addr().String(), "127.0.0."+strconv.Itoa(10+i))
		if (err == nil) != (i < 2) {
			t.Fatalf("session %d: %v", i, err)
		}
		if err == nil {
			defer c.c.Close()
		}
	}
}

// Item 6: queue places per address and per invite; a waiting customer that
// vanishes loses its place within the heartbeat timeout plus a short
// grace, not the recovery window.
func TestAttackQueue(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) {
		c.QueueGrace = 200 * time.Millisecond
		c.MaxQueuePerInvite = 8
	})
	d := onlineDevice(t, e)
	inv := e.invite("r1", time.Hour)
	first := e.customer(inv, "r1", "Ann") // in the call, from 127.0.0.1
	first.ev.expect(t, "joined 0")
	ok, full := 0, 0
	var queued []*rawDevice
	for range 8 {
		c, j := rawCustomer(t, e, "127.0.0.2", inv)
		switch {
		case j.OK:
			ok++
			queued = append(queued, c)
			if len(j.ICEServers) != 0 {
				t.Errorf("a waiting customer got TURN credentials")
			}
		case j.Error == "room_full":
			full++
		}
	}
	if ok != 5 || full != 3 {
		t.Fatalf("one address: %d places, %d refused", ok, full)
	}
	// The invite's share: 8 places in all, whatever the addresses.
	ok, full = 0, 0
	for i := range 5 {
		_, j := rawCustomer(t, e, "127.0.0."+strconv.Itoa(3+i), inv)
		if j.OK {
			ok++
		} else if j.Error == "room_full" {
			full++
		}
	}
	if ok != 3 || full != 2 {
		t.Fatalf("one invite: %d more places, %d refused", ok, full)
	}
	other := e.customer(e.invite("r1", time.Hour), "r1", "Bob") // another invite still queues
	other.ev.expect(t, "joined 9")
	// Five waiting customers drop at TCP level: the last in line moves up
	// within the grace.
	for _, c := range queued {
		c.c.Close()
	}
	deadline := time.After(wait)
	for pos := 9; pos != 4; {
		select {
		case s := <-other.ev.ch:
			if p, ok := strings.CutPrefix(s, "queue:position "); ok {
				pos, _ = strconv.Atoi(p)
			}
		case <-deadline:
			t.Fatalf("vanished customers still hold places (position %d)", pos)
		}
	}
	deviceStayed(t, e, d)
	if v := metric(t, e, "tether_hub_queue_refused_total"); v != 5 {
		t.Errorf("queue refused metric %v", v)
	}
}

// Item 6: a waiting customer whose connection goes silent (no FIN) loses
// its place once the heartbeat notices, plus the grace.
func TestAttackQueueSilentDrop(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) {
		c.QueueGrace = 200 * time.Millisecond
		c.PingInterval, c.PingTimeout = 300*time.Millisecond, 300*time.Millisecond
	})
	inv := e.invite("r1", time.Hour)
	first := e.customer(inv, "r1", "Ann")
	first.ev.expect(t, "joined 0")
	silent, j := rawCustomer(t, e, "127.0.0.2", inv) // never answers a ping again
	if j.Position != 1 {
		t.Fatalf("join %+v", j)
	}
	_ = silent
	next := e.customer(inv, "r1", "Bob")
	next.ev.expect(t, "joined 2")
	next.ev.expect(t, "queue:position 2")
	if got := next.ev.expect(t, "queue:position"); got != "queue:position 1" {
		t.Fatalf("got %q", got)
	}
}

// Item 8: slow and idle clients. A login body sent a byte at a time is cut
// off after BodyTimeout, an idle keep-alive connection after IdleTimeout,
// and one address holds at most MaxConnsPerAddr connections.
func TestAttackSlowClients(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) {
		c.BodyTimeout, c.IdleTimeout, c.MaxConnsPerAddr = 500*time.Millisecond, 500*time.Millisecond, 20
	})
	d := onlineDevice(t, e)
	addr := e.h.Addr().String()
	dial := func(local string) net.Conn {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	// Slow body: 100 bytes announced, one every 100 ms.
	c := dial("127.0.0.2")
	fmt.Fprintf(c, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	sent := 0
	for ; sent < 100; sent++ {
		if _, err := c.Write([]byte(" ")); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if sent == 20 {
			break
		}
	}
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("slow body still being read")
	}
	// Idle keep-alive.
	c = dial("127.0.0.2")
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz %v %v", resp, err)
	}
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("idle keep-alive connection kept")
	}
	// 30 connections from one address that send nothing: 20 held, 10
	// closed at once.
	var conns []net.Conn
	for range 30 {
		conns = append(conns, dial("127.0.0.3"))
	}
	shut := 0
	for _, c := range conns[20:] {
		if closedWithin(c, 2*time.Second) {
			shut++
		}
	}
	if shut != 10 {
		t.Fatalf("%d of 10 connections over the bound closed", shut)
	}
	if v := metric(t, e, "tether_hub_conns_refused_total"); v < 10 {
		t.Fatalf("conns refused metric %v", v)
	}
	deviceStayed(t, e, d)
}
