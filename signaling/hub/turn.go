package hub

import (
	"crypto/hmac"
	"crypto/sha1" // #nosec: the TURN REST API scheme is HMAC-SHA1 by definition
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/pion/logging"
	"github.com/pion/transport/v4"
	"github.com/pion/turn/v4"

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
	// CredentialTTL is how long handed-out credentials stay valid
	// (default 24 h; a device re-verifies on every reconnect).
	CredentialTTL time.Duration
	// Net opens the relay sockets; nil is the OS network. Tests and the
	// chaos harness use it to keep relays inside a network namespace
	// (relay sockets are opened long after New, on pion's goroutines).
	Net transport.Net
}

func (c TURNConfig) enabled() bool { return c.UDP != "" || c.TCP != "" }

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
	clk              clock.Clock
	log              *slog.Logger
}

func newTURNServer(cfg TURNConfig, secret []byte, clk clock.Clock, log *slog.Logger) (*turnServer, error) {
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
	if cfg.CredentialTTL <= 0 {
		cfg.CredentialTTL = 24 * time.Hour
	}
	t := &turnServer{cfg: cfg, secret: secret, clk: clk, log: log.With("component", "hub/turn")}
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
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: gen()})
	}
	if cfg.TCP != "" {
		ln, err := net.Listen("tcp4", cfg.TCP)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("hub: TURN tcp %s: %w", cfg.TCP, err)
		}
		closers = append(closers, func() { ln.Close() })
		t.tcpAddr = ln.Addr()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen()})
	}
	sc.Realm = cfg.Realm
	sc.AuthHandler = t.authenticate
	sc.LoggerFactory = pionLogger{log: t.log}
	srv, err := turn.NewServer(sc)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("hub: TURN: %w", err)
	}
	t.srv = srv
	return t, nil
}

// authenticate is the TURN REST API check with the hub's clock: the
// username's expiry must be in the future and the password its HMAC.
func (t *turnServer) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	exp, _, ok := strings.Cut(username, ":")
	if !ok {
		return nil, false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || e <= t.clk.Now().Unix() {
		t.log.Debug("TURN credential refused", "user", username, "src", src)
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, turnPassword(t.secret, username)), true
}

// iceServer is the embedded server's entry for user.
func (t *turnServer) iceServer(user string) []signaling.ICEServer {
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
	u, c := TURNCredentials(t.secret, user, t.clk.Now(), t.cfg.CredentialTTL)
	out := []signaling.ICEServer{{URLs: turnURLs, Username: u, Credential: c}}
	if len(stun) > 0 {
		out = append([]signaling.ICEServer{{URLs: stun}}, out...)
	}
	return out
}

func (t *turnServer) Close() error { return t.srv.Close() }

// iceServers lists what a user gets in session:verify or room:join.
func (h *Hub) iceServers(user string) []signaling.ICEServer {
	var out []signaling.ICEServer
	if h.turn != nil {
		out = append(out, h.turn.iceServer(user)...)
	}
	for _, e := range h.cfg.ICE {
		s := signaling.ICEServer{URLs: e.URLs, Username: e.Username, Credential: e.Credential}
		if e.Secret != "" {
			ttl := e.TTL
			if ttl <= 0 {
				ttl = 24 * time.Hour
			}
			s.Username, s.Credential = TURNCredentials([]byte(e.Secret), user, h.clk.Now(), ttl)
		}
		out = append(out, s)
	}
	return out
}

// pionLogger bridges pion's logging into slog (house style point 9).
type pionLogger struct{ log *slog.Logger }

func (f pionLogger) NewLogger(scope string) logging.LeveledLogger {
	return pionLevel{f.log.With("scope", scope)}
}

type pionLevel struct{ l *slog.Logger }

func (p pionLevel) Trace(string)          {}
func (p pionLevel) Tracef(string, ...any) {}
func (p pionLevel) Debug(m string)        { p.l.Debug(m) }
func (p pionLevel) Debugf(f string, a ...any) {
	p.l.Debug(fmt.Sprintf(f, a...))
}
func (p pionLevel) Info(m string)             { p.l.Info(m) }
func (p pionLevel) Infof(f string, a ...any)  { p.l.Info(fmt.Sprintf(f, a...)) }
func (p pionLevel) Warn(m string)             { p.l.Warn(m) }
func (p pionLevel) Warnf(f string, a ...any)  { p.l.Warn(fmt.Sprintf(f, a...)) }
func (p pionLevel) Error(m string)            { p.l.Error(m) }
func (p pionLevel) Errorf(f string, a ...any) { p.l.Error(fmt.Sprintf(f, a...)) }
