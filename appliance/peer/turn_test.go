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
