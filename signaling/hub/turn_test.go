package hub_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"tether/signaling"
	"tether/signaling/hub"
)

// allocate asks the hub's TURN server for a relay over UDP or TCP.
func allocate(t *testing.T, network, addr, user, pass string) (net.Addr, error) {
	t.Helper()
	var conn net.PacketConn
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = pc
	case "tcp":
		c, err := net.DialTimeout("tcp4", addr, wait)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Username: user, Password: pass,
		Realm: "tether", Conn: conn, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	return relay.LocalAddr(), nil
}

// The device gets time-limited TURN credentials in session:verify (and a
// customer in room:join); the embedded server accepts them over UDP and
// TCP and refuses wrong or expired ones.
func TestHubTURN(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) {
		c.TURN = hub.TURNConfig{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", PublicIP: "127.0.0.1", RelayAddress: "127.0.0.1", CredentialTTL: time.Hour}
		c.ICE = []hub.ICEConfig{{URLs: []string{"stun:stun.example.net:3478"}}}
	})
	d := e.device(e.token("c1"))
	d.ev.expect(t, "joined")
	ice := d.Verified().ICEServers
	if len(ice) != 3 || !strings.HasPrefix(ice[0].URLs[0], "stun:127.0.0.1:") || ice[2].URLs[0] != "stun:stun.example.net:3478" {
		t.Fatalf("ice servers %+v", ice)
	}
	tu := ice[1]
	exp, user, _ := strings.Cut(tu.Username, ":")
	if user != "dev-c1" || len(tu.URLs) != 2 || tu.Credential == "" {
		t.Fatalf("turn entry %+v", tu)
	}
	if s, _ := strconv.ParseInt(exp, 10, 64); time.Until(time.Unix(s, 0)) < 59*time.Minute {
		t.Fatalf("expiry %s", exp)
	}
	udp, tcp := e.h.TURNAddrs()
	for _, tc := range []struct{ network, addr string }{{"udp", udp.String()}, {"tcp", tcp.String()}} {
		t.Run(tc.network, func(t *testing.T) {
			relay, err := allocate(t, tc.network, tc.addr, tu.Username, tu.Credential)
			if err != nil {
				t.Fatalf("allocate with handed-out credentials: %v", err)
			}
			if !strings.HasPrefix(relay.String(), "127.0.0.1:") {
				t.Fatalf("relay %v", relay)
			}
			if _, err := allocate(t, tc.network, tc.addr, tu.Username, "d3Jvbmc="); err == nil {
				t.Fatal("wrong credential accepted")
			}
		})
	}
	// An expired username is refused whatever the password.
	old := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10) + ":dev-c1"
	if _, err := allocate(t, "udp", udp.String(), old, tu.Credential); err == nil {
		t.Fatal("expired username accepted")
	}

	// A customer gets credentials of its own in the room:join reply.
	c := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	c.ev.expect(t, "joined 0")
	ctx := ctxT(t)
	args, err := c.EmitWithAck(ctx, "room:join", map[string]any{"roomId": "r1"})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		ICEServers []signaling.ICEServer `json:"iceServers"`
	}
	args.Decode(0, &r)
	if len(r.ICEServers) != 3 || !strings.HasSuffix(r.ICEServers[1].Username, ":"+c.id()) {
		t.Fatalf("customer ice %+v", r.ICEServers)
	}
	if _, err := allocate(t, "udp", udp.String(), r.ICEServers[1].Username, r.ICEServers[1].Credential); err != nil {
		t.Fatalf("customer allocate: %v", err)
	}
}

func TestTURNCredentials(t *testing.T) {
	// RFC-style check: the credential is base64(HMAC-SHA1(secret, username)).
	now := time.Unix(1700000000, 0)
	u, c := hub.TURNCredentials([]byte("secret"), "dev-1", now, time.Hour)
	if u != "1700003600:dev-1" {
		t.Fatalf("username %q", u)
	}
	// echo -n 1700003600:dev-1 | openssl dgst -sha1 -hmac secret -binary | base64
	if c != "J254BNgwnNpeE010f+8ELVcv2Lo=" {
		t.Fatalf("credential %q", c)
	}
	if _, c2 := hub.TURNCredentials([]byte("other"), "dev-1", now, time.Hour); c2 == c {
		t.Fatal("secret not used")
	}
}
