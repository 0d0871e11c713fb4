package hub_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"tether/signaling/hub"
)

// proxy forwards TCP to the hub and can cut every connection, or refuse
// new ones, to make transport losses the way a flaky network does.
type proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	refuse  bool
	wg      sync.WaitGroup
	stopped chan struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, stopped: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp4", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(u, c); u.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, u); c.Close() }()
	}
}

// cut closes every open connection (a transport loss for both ends).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) setRefuse(v bool) {
	p.mu.Lock()
	p.refuse = v
	p.mu.Unlock()
}

// A waiting customer whose transport drops comes back within the window
// with the same userId and its place, and gets what it missed (promotion);
// a customer that does not come back is removed after the window.
func TestHubRecoveryKeepsUserID(t *testing.T) {
	// The window also bounds how long broadcasts (and so B's recovery
	// offset) are kept, as in socket.io: on a loaded CI machine the steps
	// before the cut can take seconds, so the window must outlast them yet
	// stay below expect's 10 s for the final check.
	window := 8 * time.Second
	e := startHub(t, "", func(c *hub.Config) { c.RecoveryWindow = window })
	d := e.device(e.token("c1"))
	d.ev.expect(t, "joined")
	inv := e.invite("r1", time.Hour)
	pa := startProxy(t, e.h.Addr().String())
	pb := startProxy(t, e.h.Addr().String())
	a := e.customerVia(pa.url(), inv, "r1", "Ann")
	a.ev.expect(t, "joined 0")
	aID := a.id()
	b := e.customerVia(pb.url(), inv, "r1", "Bob")
	b.ev.expect(t, "joined 1")
	bID := b.id()
	// Recovery needs an offset, which only a broadcast carries (the join's
	// ack has none): wait until B holds one, or the cut below can come
	// before B has anything to recover from.
	b.ev.expect(t, "queue:position 1")

	// B loses its transport; while it is away, A's call ends and B is
	// promoted.
	pb.cut()
	d.ev.expect(t, "user:joined "+aID)
	if r := a.emitAck(t, "call:ended", map[string]any{"roomId": "r1", "reason": "done"}); r != "ok" {
		t.Fatal(r)
	}
	if got := d.ev.expect(t, "user:joined"); got != "user:joined "+bID {
		t.Fatalf("device: %s", got)
	}
	// B recovers: same userId, no new room:join, the missed promotion arrives.
	b.ev.expect(t, "queue:position 0")
	b.ev.expect(t, "room:user:joined dev-c1")
	if st := b.Status(); !st.Recovered || b.id() != bID {
		t.Fatalf("B status %+v id %s", st, b.id())
	}

	// B drops and stays away: after the window the device hears it left.
	pb.setRefuse(true)
	pb.cut()
	start := time.Now()
	got := d.ev.expect(t, "user:left")
	if got != "user:left "+bID+" disconnect" {
		t.Fatalf("device: %s", got)
	}
	if el := time.Since(start); el < window-time.Second {
		t.Fatalf("removed after %v, before the %v window", el, window)
	}
}

// Issue 12, item 1: signals are volatile. A signal for a customer whose
// transport is down is dropped (counted), not logged: when the customer
// recovers its session it gets the room events it missed but never the
// stale signal.
func TestHubSignalsNotReplayed(t *testing.T) {
	e := startHub(t, "", nil)
	d := e.device(e.token("c1"))
	d.ev.expect(t, "joined")
	pa := startProxy(t, e.h.Addr().String())
	a := e.customerVia(pa.url(), e.invite("r1", time.Hour), "r1", "Ann")
	a.ev.expect(t, "joined 0")
	a.ev.expect(t, "queue:position 0") // a broadcast: A holds a recovery offset
	aID := a.id()
	d.ev.expect(t, "user:joined "+aID)

	pa.setRefuse(true)
	pa.cut()
	deadline := time.Now().Add(wait)
	for metric(t, e, `tether_hub_connections{role="customer",transport="websocket"}`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not notice the cut")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.SendSignal(ctxT(t), offer(aID)); err != nil {
		t.Fatal(err)
	}
	for metric(t, e, `tether_hub_signals_total{result="receiver_slow"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the signal for the away customer was not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pa.setRefuse(false)
	for !a.Status().Recovered {
		if time.Now().After(deadline) {
			t.Fatal("A did not recover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.SendSignal(ctxT(t), candidate(aID, "candidate:after")); err != nil {
		t.Fatal(err)
	}
	if got := a.ev.expect(t, "signal"); got != "signal dev-c1 candidate:candidate:after" {
		t.Fatalf("after recovery A got %q first", got)
	}
}
