package hub_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

// Issue 12, item 9: a websocket text frame that is not UTF-8 fails the
// connection with 1007 (RFC 6455 section 8.1).
func TestHubInvalidUTF8Closes1007(t *testing.T) {
	e := startHub(t, "", nil)
	c, err := dialWS(e.h.Addr().String(), "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer c.c.Close()
	c.write("40\xff\xfe")
	c.c.SetReadDeadline(time.Now().Add(wait))
	var ce errClosed
	if _, err := c.readUntil("never"); !errors.As(err, &ce) || ce.code != 1007 {
		t.Fatalf("got %v, want close 1007", err)
	}
}

// Item 9: an invite has exactly one code: non-zero padding bits or a line
// break inside the base64 are refused.
func TestHubInviteCanonical(t *testing.T) {
	e := startHub(t, "", nil)
	code := e.invite("r1", time.Hour)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, code[len(code)-1])
	padded := code[:len(code)-1] + string(alphabet[last^1]) // a padding bit set: same bytes
	for _, bad := range []string{padded, code[:10] + "\n" + code[10:], code[:10] + "\r\n" + code[10:]} {
		if _, err := e.store.CheckInvite(bad); !errors.Is(err, auth.ErrInviteInvalid) {
			t.Errorf("non-canonical code %q accepted: %v", bad, err)
		}
	}
	if status, _, _ := get(t, e.h.URL()+"/api/invites/"+padded, ""); status != 404 {
		t.Errorf("GET /api/invites with a non-canonical code: %d", status)
	}
	if status, _, _ := get(t, e.h.URL()+"/api/invites/"+code, ""); status != 200 {
		t.Errorf("canonical code: %d", status)
	}
	c := e.customer(padded, "r1", "Eve")
	c.ev.expect(t, "connect_error")
}

// Item 9: hub pages and answers may not be framed, leak no referrer and
// run only the hub's scripts.
func TestHubSecurityHeaders(t *testing.T) {
	e := startHub(t, "", nil)
	for _, p := range []string{"/", "/c/abc", "/api/invites/x", "/healthz"} {
		_, _, h := get(t, e.h.URL()+p, "")
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: CSP %q XFO %q RP %q", p, csp, h.Get("X-Frame-Options"), h.Get("Referrer-Policy"))
		}
	}
}

func logout(t *testing.T, e *env, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", e.h.URL()+"/api/logout", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Item 9: the fleet API has logout (one token, or every session of the
// account) and operator tokens live 12 hours.
func TestHubLogoutAndOperatorTTL(t *testing.T) {
	e := startHub(t, "", nil)
	if _, err := e.store.AddAccount("ops", "password-ops", auth.RoleOperator, ""); err != nil {
		t.Fatal(err)
	}
	code, m, _ := e.login("ops", "password-ops")
	if code != 200 {
		t.Fatal(code, m)
	}
	exp, _ := time.Parse(time.RFC3339, m["expiresAt"].(string))
	if d := exp.Sub(e.clk.Now()); d > 12*time.Hour+time.Minute || d < 11*time.Hour {
		t.Fatalf("operator token lives %v", d)
	}
	tok := m["token"].(string)
	if s, _, _ := get(t, e.h.URL()+"/api/fleet", tok); s != 200 {
		t.Fatalf("fleet %d", s)
	}
	if s := logout(t, e, tok, ""); s != 200 {
		t.Fatalf("logout %d", s)
	}
	if s, _, _ := get(t, e.h.URL()+"/api/fleet", tok); s != 401 {
		t.Fatalf("fleet after logout %d", s)
	}
	if s := logout(t, e, tok, ""); s != 401 {
		t.Fatalf("second logout %d", s)
	}
	t1, t2 := e.token2("ops", "password-ops"), e.token2("ops", "password-ops")
	if s := logout(t, e, t1, `{"all":true}`); s != 200 {
		t.Fatalf("logout all %d", s)
	}
	if s, _, _ := get(t, e.h.URL()+"/api/fleet", t2); s != 401 {
		t.Fatalf("other session after logout all: %d", s)
	}
}

func (e *env) token2(user, pw string) string {
	e.t.Helper()
	code, m, _ := e.login(user, pw)
	if code != 200 {
		e.t.Fatalf("login %s: %d", user, code)
	}
	return m["token"].(string)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// the files and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Item 9: given a certificate and key the hub serves HTTPS itself (a
// browser needs HTTPS for the camera off localhost), Engine.IO included.
func TestHubServesTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	e := startHub(t, "", func(c *hub.Config) { c.TLSCert, c.TLSKey = cert, key })
	if !strings.HasPrefix(e.h.URL(), "https://") {
		t.Fatalf("public URL %s", e.h.URL())
	}
	cl := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(e.h.URL() + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("0{")) || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("https handshake: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	plain := "http://" + e.h.Addr().String() + "/healthz"
	if resp, err := http.Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served")
		}
	}
	// A websocket over TLS is read by a goroutine of its own (crypto/tls
	// keeps decrypted bytes the poller cannot see): a CONNECT with a
	// bogus invite is read and refused, and a second one after it too.
	ws, _, err := (&websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: wait}).Dial(
		"wss://"+strings.TrimPrefix(e.h.URL(), "https://")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, m, err := ws.ReadMessage(); err != nil || !bytes.HasPrefix(m, []byte("0{")) {
		t.Fatalf("wss open: %q %v", m, err)
	}
	for range 2 {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`40{"role":"customer","invite":"nope","name":"x"}`)); err != nil {
			t.Fatal(err)
		}
		if _, m, err := ws.ReadMessage(); err != nil || !bytes.HasPrefix(m, []byte("44")) {
			t.Fatalf("wss CONNECT with a bogus invite: %q %v, want CONNECT_ERROR", m, err)
		}
	}
	if _, err := hub.New(hub.Config{Listen: "127.0.0.1:0", Store: e.store, AdminSocket: "-", TLSCert: cert}); err == nil {
		t.Fatal("a certificate without a key accepted")
	}
}
