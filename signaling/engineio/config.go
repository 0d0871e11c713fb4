package engineio

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Transport names as used in the Engine.IO query string and handshake.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Config configures one Engine.IO client session. The zero value of every
// field but URL has a working default (see withDefaults).
type Config struct {
	// URL is the server's base URL: http, https, ws or wss.
	URL string
	// Path is the Engine.IO endpoint path; default "/socket.io/".
	Path string
	// Query holds extra query parameters sent on every request.
	Query url.Values
	// Header holds extra HTTP headers sent on every request.
	Header http.Header
	// Upgrade allows a polling session to upgrade to WebSocket when the
	// server offers it (default true; set NoUpgrade to disable).
	NoUpgrade bool

	// DialTimeout bounds the TCP connect (default 5 s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake (default 5 s).
	TLSHandshakeTimeout time.Duration
	// HandshakeTimeout bounds the whole Engine.IO handshake: connect, TLS,
	// HTTP (upgrade) request and the open packet (default 10 s). A tarpit that
	// accepts and never answers costs at most this long.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one WebSocket write or polling POST (default 10 s).
	WriteTimeout time.Duration
	// MaxReadPayload bounds a packet or payload from the server (default 1 MB,
	// socket.io's maxHttpBufferSize default).
	MaxReadPayload int64

	// RootCAs verifies wss/https servers; nil uses the system roots. Private
	// hubs configure their own CA here. Verification is never disabled.
	RootCAs *x509.CertPool
	// Proxy selects a proxy per request; default http.ProxyFromEnvironment.
	Proxy func(*http.Request) (*url.URL, error)
	// Jar keeps cookies across the session's requests: a load balancer's
	// sticky-session cookie keeps a polling session on the hub node that
	// holds it (issue 17). Nil sends none.
	Jar http.CookieJar

	// OnUpgrade is called (from the Conn's goroutine; it must not block)
	// when a polling session has moved to WebSocket.
	OnUpgrade func()

	// Clock drives the ping watchdog; default the real clock.
	Clock clockwork.Clock
	// Logger receives debug logs; default slog.Default().
	Logger *slog.Logger
}

// WithDefaults validates c and fills in defaults.
func (c Config) WithDefaults() (Config, error) {
	if c.URL == "" {
		return c, fmt.Errorf("engineio: config: URL is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return c, fmt.Errorf("engineio: config: URL %q: %v", c.URL, err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return c, fmt.Errorf("engineio: config: URL %q: scheme must be http, https, ws or wss", c.URL)
	}
	if u.Host == "" {
		return c, fmt.Errorf("engineio: config: URL %q has no host", c.URL)
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = 5 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxReadPayload <= 0 {
		c.MaxReadPayload = 1_000_000
	}
	if c.Proxy == nil {
		c.Proxy = http.ProxyFromEnvironment
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// endpoint returns the request URL for transport with the given sid.
func (c *Config) endpoint(transport, sid string) string {
	u, _ := url.Parse(c.URL) // validated in withDefaults
	switch {
	case transport == TransportWebSocket && (u.Scheme == "http" || u.Scheme == "ws"):
		u.Scheme = "ws"
	case transport == TransportWebSocket:
		u.Scheme = "wss"
	case u.Scheme == "ws":
		u.Scheme = "http"
	case u.Scheme == "wss":
		u.Scheme = "https"
	}
	u.Path = c.Path
	q := url.Values{}
	for k, v := range c.Query {
		q[k] = v
	}
	q.Set("EIO", "4")
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Config) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
}

func (c *Config) netDialer() *net.Dialer {
	return &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 15 * time.Second}
}

// HTTPClient builds the client used for long-polling: proxies from the
// environment, explicit dial and TLS timeouts, verified certificates. The
// socketio manager builds one per Manager and shares it across sessions.
func (c Config) HTTPClient() *http.Client {
	c, _ = c.WithDefaults()
	return &http.Client{Jar: c.Jar, Transport: &http.Transport{
		Proxy:               c.Proxy,
		DialContext:         c.netDialer().DialContext,
		TLSHandshakeTimeout: c.TLSHandshakeTimeout,
		TLSClientConfig:     c.tlsConfig(),
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}
}
