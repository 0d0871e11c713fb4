package appliance

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"tether/appliance/peer"
	"tether/signaling"
	"tether/signaling/socketio"
	"tether/store"
)

// TestSessionExpiryReloginFreshCall is the regression test of the bench's
// "session revoked (→ login, resumed)" fault: a customer is in a call and
// stays in the room while the counter's session is revoked. The hub takes
// the counter out of the room and tells the customer, whose page closes
// its PeerConnection (customer.js closePC on room:user:left). After the
// login the counter's join lists the same customer, whose page answers
// the next offer with a new PeerConnection. The appliance used to keep the
// old PeerConnection (its DTLS session closed by the far end) and send no
// offer or an ICE restart of it: no frames ever again ("mux: no endpoint
// for packet starting with 22"). The real App, media pipeline and WebRTC
// layer run here; only the socket is a fake, and the customer is pion.
func TestSessionExpiryReloginFreshCall(t *testing.T) {
	a := newInternalApp(t)
	cfg := a.cfg
	dev := &fakeRoom{}
	a.device = dev
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, c := range []interface{ Run(context.Context) error }{a.media, a.peer} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
	}
	a.deviceRunning.Store(true) // the socket "runs": a login is a Relogin

	const user = "customer-1"
	join := evJoined{signaling.JoinReply{OK: true, Members: []signaling.Member{{UserID: user, Role: "customer"}}}}
	// The test goroutine stands in for Run: it alone calls handle.
	first := newAnsweringCustomer(t, a, dev, user)
	a.handle(ctx, join)
	first.waitMedia(t, "first call")

	// Revoked: session:expired, the hub drops the counter from the room,
	// the customer's page closes its PeerConnection.
	first.pc.Close()
	a.handle(ctx, evSessionExpired{})
	if dev.relogins.Load() != 0 {
		t.Fatal("relogin before a login")
	}

	// `tetherd login`: the socket starts a fresh session, verify + join.
	done := make(chan error, 1)
	a.handle(ctx, evLogin{sess: store.Session{Token: "t2", HubURL: cfg.HubURL, ExpiresAt: time.Now().Add(time.Hour)}, user: "counter", done: done})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if dev.relogins.Load() != 1 {
		t.Fatalf("relogins %d, want 1", dev.relogins.Load())
	}
	second := newAnsweringCustomer(t, a, dev, user)
	a.handle(ctx, join)
	second.waitMedia(t, "call after the re-login")
}

// newInternalApp builds the real App on the sim board with test sources
// (not started: the test runs what it needs).
func newInternalApp(t *testing.T) *App {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterFlags(fs)
	for k, v := range map[string]string{"board": "sim", "hub": "http://127.0.0.1:1", "data": filepath.Join(t.TempDir(), "tetherd.db"),
		"setup-addr": "", "metrics-addr": "", "camera": "test", "mic": "test",
		"width": "320", "height": "180", "fps": "15", "bitrate": "300"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Resolve(fs, func(string) string { return "" }, func(string) ([]byte, error) { return nil, os.ErrNotExist }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Deps{Logger: slog.New(slog.DiscardHandler), PeerConfig: func(c *peer.Config) { c.IncludeLoopback = true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.Close() })
	return a
}

// fakeRoom is the room socket: signals the appliance sends go to the
// current customer.
type fakeRoom struct {
	to       atomic.Pointer[answeringCustomer]
	relogins atomic.Int32
}

func (f *fakeRoom) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeRoom) Client() *socketio.Client      { return nil }
func (f *fakeRoom) RTT() time.Duration            { return 0 }
func (f *fakeRoom) Relogin()                      { f.relogins.Add(1) }
func (f *fakeRoom) EndCall(context.Context, string, string) error {
	return nil
}
func (f *fakeRoom) StatusChanged() {}
func (f *fakeRoom) SendSignal(_ context.Context, s signaling.Signal) error {
	if c := f.to.Load(); c != nil {
		c.signals <- peer.FromWire(s)
	}
	return nil
}

// answeringCustomer answers the appliance's offers as the customer page does
// (a PeerConnection made on the first offer) and counts received RTP.
type answeringCustomer struct {
	pc      *webrtc.PeerConnection
	signals chan peer.Signal
	packets atomic.Int64
}

func newAnsweringCustomer(t *testing.T, a *App, dev *fakeRoom, user string) *answeringCustomer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &answeringCustomer{pc: pc, signals: make(chan peer.Signal, 64)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			c.packets.Add(1)
		}
	})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			var s peer.Signal
			select {
			case s = <-c.signals:
			case <-stop:
				return
			}
			switch {
			case s.Candidate != nil:
				_ = pc.AddICECandidate(*s.Candidate)
			case s.Description != nil && s.Description.Type == webrtc.SDPTypeOffer:
				if err := pc.SetRemoteDescription(*s.Description); err != nil {
					continue // an offer this connection cannot take
				}
				ans, err := pc.CreateAnswer(nil)
				if err != nil {
					continue
				}
				gathered := webrtc.GatheringCompletePromise(pc)
				if pc.SetLocalDescription(ans) != nil {
					continue
				}
				<-gathered
				a.peer.HandleSignal(user, peer.Signal{Description: pc.LocalDescription()})
			}
		}
	}()
	dev.to.Store(c)
	return c
}

// waitMedia waits (bounded, generous for a loaded box) for RTP from the
// appliance.
func (c *answeringCustomer) waitMedia(t *testing.T, what string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); c.packets.Load() < 10; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d RTP packets in 30 s (peer state %s)", what, c.packets.Load(), c.pcState())
		}
	}
}

func (c *answeringCustomer) pcState() string { return c.pc.ConnectionState().String() }
