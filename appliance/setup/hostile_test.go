package setup

// Hostile clients against the real server (Run on loopback): issue 12
// items 3, 4, 7, 8 and 9 for the setup page. Clients leave from distinct
// 127/8 addresses (Linux routes all of 127/8 to lo), so "another address"
// is a real one, not a header.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/appliance/health"
	"tether/internal/hostile"
	"tether/internal/login"
	"tether/internal/testenv"
	"tether/store"
)

// live is a Server running Run on loopback.
type live struct {
	t    *testing.T
	srv  *Server
	st   *store.Store
	addr string // host:port
	tls  bool
}

// cheap are argon2 parameters that cost microseconds, for tests whose
// point is not the hashing.
var cheap = testenv.KDF

func startLive(t *testing.T, withTLS bool, argon login.Params, mut func(*Config)) *live {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	tr, err := health.New(health.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMem(store.Options{Logger: log, Argon2: argon})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Health: tr, Store: st, Login: (&fakeHub{st: st}).login, Listener: ln, Logger: log, Hostname: "counter-7"}
	if withTLS {
		cert, err := DeviceCert(st, cfg.Hostname, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if mut != nil {
		mut(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return &live{t: t, srv: srv, st: st, addr: ln.Addr().String(), tls: withTLS}
}

func (l *live) base() string {
	if l.tls {
		return "https://" + l.addr
	}
	return "http://" + l.addr
}

// hclient is one browser (cookie jar) on loopback address ip.
type hclient struct {
	l    *live
	c    *http.Client
	csrf string
}

func (l *live) client(ip string) *hclient {
	c := hostile.Client(l.t, ip, &tls.Config{InsecureSkipVerify: true}) // pinned by fingerprint in TestHostileTLS
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hclient{l: l, c: c}
}

func (c *hclient) do(req *http.Request) (int, map[string]any, http.Header, error) {
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, resp.Header, nil
}

func (c *hclient) state() {
	c.l.t.Helper()
	req, _ := http.NewRequest("GET", c.l.base()+"/api/state", nil)
	code, m, _, err := c.do(req)
	if err != nil || code != 200 {
		c.l.t.Fatalf("state: %d %v", code, err)
	}
	c.csrf, _ = m["csrf"].(string)
}

func (c *hclient) post(path string, form url.Values) (int, map[string]any, http.Header, error) {
	req, _ := http.NewRequest("POST", c.l.base()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(csrfHeader, c.csrf)
	return c.do(req)
}

func (l *live) setPassword() {
	l.t.Helper()
	if err := l.st.SetSetupPassword(setupPW); err != nil {
		l.t.Fatal(err)
	}
}

// Item 3: 15 concurrent wrong logins from one address reach the password
// check at most 5 times (the free attempts); the rest are 429. Before the
// fix all 15 were 401 against a limit of 5.
func TestHostileLoginBurst(t *testing.T) {
	// The production cost (~70 ms a check): the race needs checks that take
	// time, as the 15 × 401 did.
	l := startLive(t, false, login.DefaultParams, nil)
	l.setPassword()
	c := l.client("127.0.0.2")
	c.state()
	counts := hostile.Burst(15, func(int) (int, error) {
		code, _, hdr, err := c.post("/api/login", vals("password", "wrong-guess"))
		if code == 429 && hdr.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return code, err
	})
	t.Logf("15 concurrent wrong logins: %d × 401, %d × 429", counts[401], counts[429])
	if counts[401] > 5 || counts[401]+counts[429] != 15 {
		t.Fatalf("answers %v; want ≤ 5 × 401, the rest 429", counts)
	}
}

// Item 4: while five addresses keep guessing, the owner with the right
// password from a sixth address gets in at the first try. Before the fix
// 30 failures over 5 addresses locked the page for everyone.
func TestHostileOwnerDuringAttack(t *testing.T) {
	l := startLive(t, false, cheap, nil)
	l.setPassword()
	var clients []*hclient
	for i := range 5 {
		c := l.client(fmt.Sprintf("127.0.0.%d", 11+i))
		c.state()
		clients = append(clients, c)
	}
	atk := hostile.StartAttack(5, 300, func(i int) (int, error) {
		code, _, _, err := clients[i].post("/api/login", vals("password", "guess"))
		return code, err
	})
	atk.WaitFor(429, 50, 5*time.Second) // the attack is past its free attempts
	owner := l.client("127.0.0.20")
	owner.state()
	start := time.Now()
	code, m, _, err := owner.post("/api/login", vals("password", setupPW))
	took := time.Since(start)
	attack := atk.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("owner login during attack: %d in %v; attack answers %v", code, took.Round(time.Millisecond), attack)
	if code != 200 {
		t.Fatalf("owner from a clean address: %d %v", code, m)
	}
}

// Item 7: DNS rebinding. A page on rebind.evil.example that resolves to
// the appliance is same-origin to the browser: Host and Origin name the
// attacker's domain and Sec-Fetch-Site says same-origin. Every such
// request is 421, and the first-visit password is not set.
func TestHostileDNSRebinding(t *testing.T) {
	l := startLive(t, false, cheap, nil)
	c := l.client("127.0.0.2")
	port := l.addr[strings.LastIndex(l.addr, ":"):]
	evil := "rebind.evil.example" + port
	for _, tc := range []struct{ method, path string }{{"GET", "/"}, {"GET", "/api/state"}, {"POST", "/api/password"}, {"POST", "/api/login"}} {
		req, _ := http.NewRequest(tc.method, l.base()+tc.path, strings.NewReader(vals("password", "attacker-pw", "confirm", "attacker-pw").Encode()))
		req.Host = evil
		req.Header.Set("Origin", "http://"+evil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		code, m, _, err := c.do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusMisdirectedRequest || m["code"] != "misdirected" {
			t.Errorf("%s %s with Host %s: %d %v, want 421", tc.method, tc.path, evil, code, m)
		}
	}
	if set, _ := l.st.HasSetupPassword(); set {
		t.Fatal("a rebinding page chose the setup password")
	}
	// The names of the appliance are served.
	for _, host := range []string{"127.0.0.1" + port, "localhost" + port, "counter-7" + port, "COUNTER-7.local." + port, "[::1]" + port, "localhost"} {
		req, _ := http.NewRequest("GET", l.base()+"/api/state", nil)
		req.Host = host
		if code, m, _, err := c.do(req); err != nil || code != 200 {
			t.Errorf("Host %s: %d %v %v, want 200", host, code, m, err)
		}
	}
	for _, host := range []string{"counter-7.evil.example", "evil.local", "10.11.12.13" + port, "127.0.0.1.nip.io" + port} {
		req, _ := http.NewRequest("GET", l.base()+"/api/state", nil)
		req.Host = host
		if code, _, _, err := c.do(req); err != nil || code != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d %v, want 421", host, code, err)
		}
	}
}

// Item 9: TLS with a per-device certificate; plain HTTP on the same port
// is a 308 to https:// (never to a foreign Host); the fingerprint the page
// shows is the one the handshake presents; the certificate is made once.
func TestHostileTLS(t *testing.T) {
	l := startLive(t, true, cheap, nil)
	// Plain HTTP.
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/login?x=1 HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", l.addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+l.addr+"/api/login?x=1" {
		t.Fatalf("plain HTTP: %d Location %q, want 308 to https://%s/api/login?x=1", resp.StatusCode, resp.Header.Get("Location"), l.addr)
	}
	plain := (&live{t: t, addr: l.addr}).client("127.0.0.2")
	req, _ := http.NewRequest("GET", "http://"+l.addr+"/", nil)
	req.Host = "rebind.evil.example"
	if code, _, hdr, err := plain.do(req); err != nil || code != http.StatusMisdirectedRequest || hdr.Get("Location") != "" {
		t.Fatalf("plain HTTP with a foreign Host: %d %v Location %q, want 421 and no redirect", code, err, hdr.Get("Location"))
	}
	// The handshake's certificate.
	tc, err := tls.DialWithDialer(&d, "tcp", l.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := tc.ConnectionState().PeerCertificates[0]
	tc.Close()
	sum := sha256.Sum256(leaf.Raw)
	if got := Fingerprint(leaf.Raw); got != l.srv.Fingerprint() || len(got) != 95 || !strings.HasPrefix(got, fmt.Sprintf("%02X:", sum[0])) {
		t.Fatalf("handshake fingerprint %s, server says %s", got, l.srv.Fingerprint())
	}
	if pub := leaf.PublicKeyAlgorithm; pub != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA (P-256)", pub)
	}
	for _, name := range []string{"counter-7", "counter-7.local", "localhost"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("certificate does not name %s: %v", name, err)
		}
	}
	c := l.client("127.0.0.2")
	req, _ = http.NewRequest("GET", l.base()+"/api/state", nil)
	code, m, hdr, err := c.do(req)
	if err != nil || code != 200 || m["fingerprint"] != l.srv.Fingerprint() || hdr.Get("Strict-Transport-Security") == "" {
		t.Fatalf("state over TLS: %d %v %v", code, m["fingerprint"], err)
	}
	// Made once: the same store gives the same certificate.
	again, err := DeviceCert(l.st, "counter-7", nil, time.Now())
	if err != nil || Fingerprint(again.Certificate[0]) != l.srv.Fingerprint() {
		t.Fatalf("second DeviceCert: %v, fingerprint changed", err)
	}
}

// Item 8: 100 clients sending a login body a byte at a time and 100 idle
// keep-alive connections (over TLS, as in production) are all closed
// within the timeouts; one address cannot hold more than its cap; a
// normal client is served throughout.
func TestHostileSlowClients(t *testing.T) {
	// Short timeouts keep the test short; the header timeout also bounds
	// each TLS handshake, so it leaves room for 200 of them under -race.
	const headerTimeout, readTimeout, idleTimeout = 3 * time.Second, 4 * time.Second, 3 * time.Second
	l := startLive(t, true, cheap, func(c *Config) {
		c.ReadHeaderTimeout, c.ReadTimeout, c.IdleTimeout = headerTimeout, readTimeout, idleTimeout
	})
	l.setPassword()
	dials := make(chan struct{}, 16) // handshakes at once: an attacker paces them too
	dialTLS := func(ip string) (*tls.Conn, error) {
		dials <- struct{}{}
		defer func() { <-dials }()
		d := hostile.Dialer(ip)
		d.Timeout = 20 * time.Second
		return tls.DialWithDialer(d, "tcp", l.addr, &tls.Config{InsecureSkipVerify: true})
	}
	// closedBy waits (bounded) until the server closes c and says how long
	// after start that was; false if it was still open after limit.
	closedBy := func(c net.Conn, start time.Time, limit time.Duration) (time.Duration, bool) {
		_ = c.SetReadDeadline(start.Add(limit))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return 0, false
		}
		return time.Since(start), true
	}
	const limit = 20 * time.Second // far past the timeouts: a bound, not a speed figure

	// 40 silent connections from one address: the cap keeps 16 and closes
	// the rest at once; the kept ones are closed by the header timeout.
	var capped []net.Conn
	for range 40 {
		c, err := hostile.Dialer("127.0.3.1").Dial("tcp", l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		capped = append(capped, c)
	}
	// Read all at once, well inside the header timeout that closes the
	// kept ones later: the refused are closed already.
	closedNow := hostile.Burst(len(capped), func(i int) (int, error) {
		_ = capped[i].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := capped[i].Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return 0, nil // still open
		}
		return 1, nil
	})
	refused := closedNow[1]
	if refused != 40-DefaultMaxConnsPerAddr {
		t.Fatalf("%d of 40 connections from one address refused, want %d (cap %d)", refused, 40-DefaultMaxConnsPerAddr, DefaultMaxConnsPerAddr)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	open := 0
	finish := func(d time.Duration, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			open++
		}
		slowest = max(slowest, d)
	}
	for _, c := range capped {
		wg.Go(func() {
			d, ok := closedBy(c, time.Now(), limit)
			finish(d, ok)
		})
	}
	// 100 slowloris body senders over 10 addresses (10 each, under the cap).
	for i := range 100 {
		wg.Go(func() {
			c, err := dialTLS(fmt.Sprintf("127.0.1.%d", 1+i%10))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			start := time.Now()
			fmt.Fprintf(c, "POST /api/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n", l.addr)
			go func() { // a byte every 200 ms until the server gives up (bounded)
				for range 100 {
					if _, err := c.Write([]byte("p")); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			finish(closedBy(c, start, limit))
		})
	}
	// 100 idle keep-alive connections: one request each, then silence.
	for i := range 100 {
		wg.Go(func() {
			c, err := dialTLS(fmt.Sprintf("127.0.2.%d", 1+i%10))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /api/state HTTP/1.1\r\nHost: %s\r\n\r\n", l.addr)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			start := time.Now()
			finish(closedBy(&bufConn{Conn: c, r: br}, start, limit))
		})
	}
	// A normal client on another address is served during all this.
	normal := l.client("127.0.0.5")
	normal.state()
	if code, _, _, err := normal.post("/api/login", vals("password", setupPW)); err != nil || code != 200 {
		t.Errorf("normal client during the attack: %d %v", code, err)
	}
	wg.Wait()
	t.Logf("slow, idle and silent connections: %d still open after %v, last closed after %v; one address: %d of 40 refused at once",
		open, limit, slowest.Round(100*time.Millisecond), refused)
	if open > 0 {
		t.Fatalf("%d of 216 slow, idle or silent connections still open after %v (read timeout %v, idle %v)", open, limit, readTimeout, idleTimeout)
	}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Addr is the port really bound once Run listens, not the configured
// ":0": the serial console prints it (last session's "noticed" list).
func TestAddrIsTheBoundPort(t *testing.T) {
	l := startLive(t, false, cheap, func(c *Config) { c.Listener, c.Addr = nil, "127.0.0.1:0" })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a, ok := l.srv.Addr().(*net.TCPAddr); ok && a.Port != 0 {
			resp, err := http.Get("http://" + a.String() + "/")
			if err != nil {
				t.Fatalf("Addr %v does not answer: %v", a, err)
			}
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Addr stayed %v", l.srv.Addr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
