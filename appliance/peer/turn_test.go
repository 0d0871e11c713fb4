package peer

import (
	"net"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

const (
	turnUser  = "tether"
	turnPass  = "secret"
	turnRealm = "tether.test"
)

// startTURN runs a pion TURN server at turnIP:3478 on the harness's WAN.
func startTURN(t testing.TB, r *harness) []webrtc.ICEServer {
	t.Helper()
	tn, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{turnIP}})
	must(t, err)
	must(t, r.net.wan.AddNet(tn))
	return serveTURN(t, tn, turnIP)
}

// serveTURN runs a pion TURN server on n at ip:3478, relaying from ip,
// with the test's long-term credentials.
func serveTURN(t testing.TB, n transport.Net, ip string) []webrtc.ICEServer {
	t.Helper()
	pc, err := n.ListenPacket("udp4", ip+":3478")
	must(t, err)
	key := turn.GenerateAuthKey(turnUser, turnRealm, turnPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: turnRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == turnUser
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP(ip), Address: ip, Net: n},
		}},
	})
	must(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return []webrtc.ICEServer{{URLs: []string{"turn:" + ip + ":3478?transport=udp"}, Username: turnUser, Credential: turnPass}}
}

// TestTURNRelayPath: UDP between appliance and customer is blocked, the
// TURN server is reachable: the call comes up through the relay and the
// path is reported as relay.
func TestTURNRelayPath(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r := newHarness(t, mock)
	r.net.dropPeers.Store(true)
	r.peer.SetICEServers(startTURN(t, r))
	r.waitStandby() // the standby is rebuilt with the TURN server
	c := r.join("cust-1")
	defer c.close()
	r.waitState(Connected)
	c.waitFrames(5)
	st := r.syncStats()
	if st.Path != PathRelay {
		t.Fatalf("path %q (%s -> %s), want relay", st.Path, st.LocalCandidate, st.RemoteCandidate)
	}
}

// TestTURNFallback: UDP between the peers is blocked and the TURN server
// arrives only after the call started (a later session:verify), so the
// first attempt has no pair that can succeed. After RelayFallbackAfter on
// the injected clock the restart gathers relay candidates only, and the
// call comes up through TURN.
func TestTURNFallback(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r := newHarness(t, mock)
	r.net.dropPeers.Store(true)
	r.waitStandby()
	c := r.join("cust-1")
	defer c.close()
	r.waitState(Negotiating)
	r.peer.SetICEServers(startTURN(t, r))
	r.syncStats()
	mock.Advance(DefaultRelayFallbackAfter)
	r.waitState(Restarting)
	// Drive the backoff at about real speed: a relay attempt needs a TURN
	// allocation and pion's relay acceptance wait, both in real time.
	r.driveUntil(mock, Connected, 250*time.Millisecond)
	c.waitFrames(5)
	st := r.syncStats()
	if !st.RelayOnly || st.Path != PathRelay {
		t.Fatalf("relay only %v, path %q (%s -> %s)", st.RelayOnly, st.Path, st.LocalCandidate, st.RemoteCandidate)
	}
}

// TestResentOfferAfterCut: a relay call loses its whole path; the restart
// offers of the outage (TURN unreachable: no candidate that works) go
// into a socket that has not noticed yet and are lost. When the socket is
// back the pending offer is re-sent and answered, but it can never
// connect: the call must try afresh within a check interval, not at the
// next backoff slot 8 s on (tether-bench's 30 s and 60 s cuts, frames
// 8.2 s after the link came back, 2026-12-03).
func TestResentOfferAfterCut(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r := newHarness(t, mock)
	r.net.dropPeers.Store(true) // the relay path only, as behind a strict NAT
	r.peer.SetICEServers(startTURN(t, r))
	r.waitStandby()
	c := r.join("cut-1")
	defer c.close()
	r.waitState(Negotiating)
	r.driveUntil(mock, Connected, 250*time.Millisecond)
	c.waitFrames(5)
	if st := r.syncStats(); st.Path != PathRelay {
		t.Fatalf("path %q: the test needs a relay call", st.Path)
	}

	// The cut: nothing passes, and what the appliance signals is lost.
	r.net.dropAll.Store(true)
	r.hub.loseSends.Store(true)
	r.waitStateFor(Degraded, waitLimit)
	// Through the backoff to its 8 s slots; only the first attempt makes
	// an offer (the later ones find it unanswered and sure to have left).
	for i := 0; i < 6; i++ {
		mock.Advance(8 * time.Second)
		r.syncStats()
	}
	if st := r.syncStats(); st.State != Restarting {
		t.Fatalf("during the cut: state %s, want restarting", st.State)
	}
	// The outage outlasts the attempt's gathering (the TURN allocation
	// gives up), as a 30 s cut does.
	gathered := false
	for deadline := time.Now().Add(waitLimit); !gathered && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.onLoop(func() { gathered = r.peer.active.pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete })
	}
	if !gathered {
		t.Fatal("the outage's gathering never ended")
	}

	// The path and the socket are back (a recovered session).
	r.net.dropAll.Store(false)
	r.hub.loseSends.Store(false)
	r.peer.SocketReconnected()
	answered := false
	for deadline := time.Now().Add(waitLimit); !answered && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r.onLoop(func() {
			a := r.peer.active
			answered = a != nil && a.pc.SignalingState() == webrtc.SignalingStateStable
		})
	}
	if !answered {
		t.Fatal("the re-sent offer was not answered")
	}
	// One check interval on the peer's clock, then real time only: the
	// next backoff slot (8 s) never comes.
	mock.Advance(DefaultICEKeepAlive)
	if !r.waitStateFor(Connected, waitLimit) {
		t.Fatalf("not connected again one check interval after the answer; stats %+v", r.peer.Stats())
	}
	c.waitFrames(5)
}
