package peer

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/pion/webrtc/v4"

	"tether/internal/testenv"
)

// loopbackOnly keeps pion on 127.0.0.1: real UDP sockets, no traffic
// beyond this machine.
func loopbackOnly(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
}

// TestCustomerChangesLoopback repeats customer changes over real UDP
// sockets on 127.0.0.1 (vnet has no file descriptors to leak): open files
// must not grow.
func TestCustomerChangesLoopback(t *testing.T) {
	if _, err := net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		t.Skipf("no IPv4 loopback: %v", err)
	}
	n := 100
	if testing.Short() {
		n = 20
	}
	track := newTestTrack(t)
	h := newHub()
	p, err := New(Config{
		Tracks:            []webrtc.TrackLocal{track.track},
		Signaller:         h.signaller(),
		KeyframeRequester: func() { track.wantKey.Store(true) },
		Clock:             clockwork.NewRealClock(),
		Logger:            testenv.Logger(),
		tweak:             loopbackOnly,
	})
	must(t, err)
	h.app = p
	states := make(chan State, 4096)
	p.cfg.OnStateChange = func(_, to State) {
		select {
		case states <- to:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	r := &harness{tb: t, hub: h, peer: p, states: states, cancel: cancel, done: done}
	t.Cleanup(r.stop)

	change := func(i int) {
		id := fmt.Sprintf("lo-%d", i)
		c := newCustomerWith(t, id, loopbackOnly, h)
		p.UserJoined(id)
		r.waitState(Connected)
		c.waitFrames(1)
		c.close()
		p.CallEnded(id)
		r.waitState(Waiting)
	}
	for i := 0; i < 3; i++ {
		change(i)
	}
	g0, f0, _ := r.resources(t)
	for i := 3; i < 3+n; i++ {
		change(i)
	}
	g1, f1, _ := r.resources(t)
	t.Logf("%d loopback changes: goroutines %d -> %d, fds %d -> %d", n, g0, g1, f0, f1)
	if f0 >= 0 && f1 > f0+4 {
		t.Errorf("open files grew %d -> %d", f0, f1)
	}
	if g1 > g0+25 {
		t.Errorf("goroutines grew %d -> %d", g0, g1)
	}
}
