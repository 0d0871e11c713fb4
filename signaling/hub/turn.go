package hub

import (
	"crypto/hmac"
	"crypto/sha1" // #nosec: the TURN REST API scheme is HMAC-SHA1 by definition
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"

	"tether/internal/pionlog"
	"tether/signaling"
)

// TURNConfig configures the embedded TURN server (RFC 8656) with
// time-limited credentials of the TURN REST API scheme
// (draft-uberti-behave-turn-rest-00): username "expiry:userId", credential
// base64(HMAC-SHA1(secret, username)). The secret is the hub's "turn"
// secret in the store.
type TURNConfig struct {
	// UDP and TCP listen addresses, e.g. ":3478"; both empty: no TURN.
	UDP, TCP string
	// PublicIP is the address relays are announced on and clients are
	// told to use (required with UDP or TCP).
	PublicIP string
	// RelayAddress is where relay sockets bind (default "0.0.0.0").
	RelayAddress string
	// Realm (default "tether").
	Realm string
	// CredentialTTL is how long a device's credentials stay valid for new
	// allocations (default 1 h; the appliance re-verifies before they
	// expire, docs/protocol.md). CustomerTTL is a customer's (default
	// 10 min, refreshed with room:ice while the customer is in the call).
	CredentialTTL time.Duration
	CustomerTTL   time.Duration
	// AllowPeers lists peer ranges (CIDR) relays may reach although they
	// are loopback, private (RFC 1918, fc00::/7), CGNAT (RFC 6598),
	// link-local, unspecified, multicast or the hub's own addresses, which
	// are refused by default: a TURN relay must not open the hub's own
	// network to whoever holds a credential (issue 12). A LAN deployment
	// lists its LAN here.
	AllowPeers []string
	// MaxAllocationsPerUser and MaxAllocationsPerAddr bound live
	// allocations per credential's user and per client IP (defaults 10 and
	// 30; a browser makes one per TURN URL and local address).
	MaxAllocationsPerUser int
	MaxAllocationsPerAddr int
	// Net opens the relay sockets; nil is the OS network. Tests and the
	// chaos harness use it to keep relays inside a network namespace
	// (relay sockets are opened long after New, on pion's goroutines).
	Net transport.Net
}

func (c TURNConfig) enabled() bool { return c.UDP != "" || c.TCP != "" }

func (c TURNConfig) withDefaults() TURNConfig {
	if c.CredentialTTL <= 0 {
		c.CredentialTTL = time.Hour
	}
	if c.CustomerTTL <= 0 {
		c.CustomerTTL = 10 * time.Minute
	}
	return c
}

// ICEConfig is an external STUN or TURN server handed out with (or
// instead of) the embedded one. With Secret set, REST credentials are made
// for it (coturn's use-auth-secret); otherwise Username and Credential are
// handed out as they are.
type ICEConfig struct {
	URLs       []string
	Username   string
	Credential string
	Secret     string
	TTL        time.Duration
}

func (e ICEConfig) validate() error {
	if len(e.URLs) == 0 {
		return fmt.Errorf("hub: ice server without urls: %w", ErrConfig)
	}
	for _, u := range e.URLs {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("hub: ice url %q: %w", u, ErrConfig)
		}
	}
	return nil
}

// TURNCredentials makes TURN REST API credentials for user, valid until
// now + ttl.
func TURNCredentials(secret []byte, user string, now time.Time, ttl time.Duration) (username, credential string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, turnPassword(secret, username)
}

func turnPassword(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type turnServer struct {
	srv              *turn.Server
	udpAddr, tcpAddr net.Addr
	cfg              TURNConfig
	secret           []byte
	clk              clockwork.Clock
	log              *slog.Logger
	allow            []netip.Prefix // AllowPeers
	own              map[netip.Addr]bool
	refusedPeers     atomic.Uint64

	mu sync.Mutex // guards the fields below; pion's goroutines and the hub loop use them
	// entitled are the users who may use the relay now: a customer while
	// in the call, a device until its account is revoked. Filled by the
	// hub loop.
	entitled map[string]bool
	// allocs counts live allocations by user and by client IP; live holds
	// the five-tuples (src|dst|proto) of live allocations with their user,
	// so an expired credential may still refresh what it already holds.
	byUser, byAddr map[string]int
	live           map[string]string
}

// deniedPeers are the ranges a relay never reaches unless AllowPeers says
// so: loopback, RFC 1918 and fc00::/7, CGNAT 100.64/10 (RFC 6598),
// link-local, unspecified, multicast, "this network" 0/8, broadcast.
var deniedPeers = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"), // reserved and 255.255.255.255
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// peerAllowed is the TURN permission filter (RFC 8656 section 9: the
// server may refuse a peer by policy; it answers 403).
func (t *turnServer) peerAllowed(client net.Addr, peer net.IP) bool {
	a, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range t.allow {
		if p.Contains(a) {
			return true
		}
	}
	denied := t.own[a]
	for _, p := range deniedPeers {
		denied = denied || p.Contains(a)
	}
	if denied {
		t.refusedPeers.Add(1)
		t.log.Info("TURN peer refused", "client", client, "peer", a)
		return false
	}
	return true
}

// ownAddrs are the hub's interface addresses and its TURN addresses.
func ownAddrs(extra ...string) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out[p.Addr().Unmap()] = true
			}
		}
	}
	for _, e := range extra {
		if a, err := netip.ParseAddr(e); err == nil && !a.IsUnspecified() {
			out[a.Unmap()] = true
		}
	}
	return out
}

func hostOf(a net.Addr) string {
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

func tupleKey(src, dst net.Addr, proto string) string {
	return src.String() + "|" + dst.String() + "|" + proto
}

// entitle lets user use the relay, or stops it (for new allocations and
// for refreshes and permissions of existing ones, which then lapse).
func (t *turnServer) entitle(user string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.entitled[user] = true
	} else {
		delete(t.entitled, user)
	}
}

// quota is pion's QuotaHandler: allocations per user and per client IP.
// pion hands it (and the allocation events) the user id authenticate
// returned: the user of the REST username, not the username itself.
func (t *turnServer) quota(user, _ string, src net.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byUser[user] >= t.cfg.MaxAllocationsPerUser || t.byAddr[hostOf(src)] >= t.cfg.MaxAllocationsPerAddr {
		t.log.Info("TURN allocation quota reached", "user", user, "src", src)
		return false
	}
	return true
}

func (t *turnServer) allocated(src, dst net.Addr, proto, user, _ string, _ net.Addr, _ int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byUser[user]++
	t.byAddr[hostOf(src)]++
	t.live[tupleKey(src, dst, proto)] = user
}

func (t *turnServer) deallocated(src, dst net.Addr, proto, user, _ string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := tupleKey(src, dst, proto)
	if _, ok := t.live[k]; !ok {
		return
	}
	delete(t.live, k)
	dec := func(m map[string]int, k string) {
		if m[k] <= 1 {
			delete(m, k)
		} else {
			m[k]--
		}
	}
	dec(t.byUser, user)
	dec(t.byAddr, hostOf(src))
}

func newTURNServer(cfg TURNConfig, secret []byte, clk clockwork.Clock, log *slog.Logger) (*turnServer, error) {
	ip := net.ParseIP(cfg.PublicIP)
	if ip == nil {
		return nil, fmt.Errorf("hub: TURN needs a public IP (got %q): %w", cfg.PublicIP, ErrConfig)
	}
	if cfg.RelayAddress == "" {
		cfg.RelayAddress = "0.0.0.0"
	}
	if cfg.Realm == "" {
		cfg.Realm = "tether"
	}
	cfg = cfg.withDefaults()
	if cfg.MaxAllocationsPerUser <= 0 {
		cfg.MaxAllocationsPerUser = 10
	}
	if cfg.MaxAllocationsPerAddr <= 0 {
		cfg.MaxAllocationsPerAddr = 30
	}
	t := &turnServer{cfg: cfg, secret: secret, clk: clk, log: log.With("component", "hub/turn"),
		own:      ownAddrs(cfg.PublicIP, cfg.RelayAddress),
		entitled: map[string]bool{}, byUser: map[string]int{}, byAddr: map[string]int{}, live: map[string]string{}}
	for _, c := range cfg.AllowPeers {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("hub: TURN allowed peers %q: %w", c, ErrConfig)
		}
		t.allow = append(t.allow, p.Masked())
	}
	var sc turn.ServerConfig
	gen := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: cfg.RelayAddress, Net: cfg.Net}
	}
	var closers []func()
	cleanup := func() {
		for _, c := range closers {
			c()
		}
	}
	if cfg.UDP != "" {
		pc, err := net.ListenPacket("udp4", cfg.UDP)
		if err != nil {
			return nil, fmt.Errorf("hub: TURN udp %s: %w", cfg.UDP, err)
		}
		closers = append(closers, func() { pc.Close() })
		t.udpAddr = pc.LocalAddr()
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: gen(), PermissionHandler: t.peerAllowed})
	}
	if cfg.TCP != "" {
		ln, err := net.Listen("tcp4", cfg.TCP)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("hub: TURN tcp %s: %w", cfg.TCP, err)
		}
		closers = append(closers, func() { ln.Close() })
		t.tcpAddr = ln.Addr()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen(), PermissionHandler: t.peerAllowed})
	}
	sc.Realm = cfg.Realm
	sc.AuthHandler = t.authenticate
	sc.QuotaHandler = t.quota
	sc.EventHandler = turn.EventHandler{OnAllocationCreated: t.allocated, OnAllocationDeleted: t.deallocated}
	sc.LoggerFactory = pionlog.New(t.log)
	srv, err := turn.NewServer(sc)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("hub: TURN: %w", err)
	}
	t.srv = srv
	return t, nil
}

// authenticate is the TURN REST API check with the hub's clock, for every
// authenticated request (Allocate, Refresh, CreatePermission,
// ChannelBind): the password must be the username's HMAC (pion checks the
// key), the user must be entitled now (a customer in the call, a device
// not revoked), and the username's expiry in the future — or, once it has
// passed, the request must come from a five-tuple holding a live
// allocation of that user: short-lived credentials then bound who may
// allocate, while a call that started in time keeps its relay as long as
// the user stays entitled.
//
// The user id it returns is the user of "expiry:user": pion keys the
// allocation by it, so a refresh with a renewed credential of the same
// user finds the allocation, and the quota and allocation events count
// users.
func (t *turnServer) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	username, src := ra.Username, ra.SrcAddr
	exp, user, ok := strings.Cut(username, ":")
	if !ok {
		return "", nil, false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", nil, false
	}
	t.mu.Lock()
	entitled := t.entitled[user]
	holds := false
	if entitled && e <= t.clk.Now().Unix() {
		pre := src.String() + "|"
		for k, u := range t.live {
			if u == user && strings.HasPrefix(k, pre) {
				holds = true
				break
			}
		}
	}
	t.mu.Unlock()
	if !entitled || (e <= t.clk.Now().Unix() && !holds) {
		t.log.Debug("TURN credential refused", "user", username, "src", src, "entitled", entitled)
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(username, ra.Realm, turnPassword(t.secret, username)), true
}

// iceServer is the embedded server's entry for user, valid for ttl.
func (t *turnServer) iceServer(user string, ttl time.Duration) []signaling.ICEServer {
	host := t.cfg.PublicIP
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	var stun, turnURLs []string
	if t.udpAddr != nil {
		port := t.udpAddr.(*net.UDPAddr).Port
		stun = append(stun, fmt.Sprintf("stun:%s:%d", host, port))
		turnURLs = append(turnURLs, fmt.Sprintf("turn:%s:%d?transport=udp", host, port))
	}
	if t.tcpAddr != nil {
		turnURLs = append(turnURLs, fmt.Sprintf("turn:%s:%d?transport=tcp", host, t.tcpAddr.(*net.TCPAddr).Port))
	}
	u, c := TURNCredentials(t.secret, user, t.clk.Now(), ttl)
	out := []signaling.ICEServer{{URLs: turnURLs, Username: u, Credential: c}}
	if len(stun) > 0 {
		out = append([]signaling.ICEServer{{URLs: stun}}, out...)
	}
	return out
}

func (t *turnServer) Close() error { return t.srv.Close() }

// iceServers lists what a user gets in session:verify (a device) or
// room:join and room:ice (a customer in the call): credentials of the
// device's or the customer's lifetime.
func (h *Hub) iceServers(user string) []signaling.ICEServer {
	ttl := h.cfg.TURN.CredentialTTL
	if !strings.HasPrefix(user, "dev-") {
		ttl = h.cfg.TURN.CustomerTTL
	}
	var out []signaling.ICEServer
	if h.turn != nil {
		out = append(out, h.turn.iceServer(user, ttl)...)
	}
	for _, e := range h.cfg.ICE {
		s := signaling.ICEServer{URLs: e.URLs, Username: e.Username, Credential: e.Credential}
		if e.Secret != "" {
			ttl := ttl
			if e.TTL > 0 {
				ttl = min(ttl, e.TTL)
			}
			s.Username, s.Credential = TURNCredentials([]byte(e.Secret), user, h.clk.Now(), ttl)
		}
		out = append(out, s)
	}
	return out
}
