package ctlsock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/time/rate"
)

// Limits of one control request. A login waits for the hub's answer (its
// HTTP client gives up after 15 s), hence the write timeout.
const (
	MaxRequestBody = 64 << 10
	maxHeader      = 8 << 10
	maxConns       = 4
	readTimeout    = 10 * time.Second
	writeTimeout   = 60 * time.Second
	maxReplyBody   = 1 << 20
	dialTimeout    = time.Second
	clientTimeout  = 60 * time.Second
)

// ErrInUse means another live process already listens on the socket.
var ErrInUse = errors.New("ctlsock: socket in use by another process")

// Listen creates the control socket at path, mode 0600. A socket left by a
// process that died is replaced; one that answers is not (ErrInUse).
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	_ = os.Remove(path) // a stale socket of a process that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ctlsock: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ctlsock: chmod %s: %w", path, err)
	}
	return ln, nil
}

// peerListener drops connections from other users than ours and root.
type peerListener struct {
	net.Listener
	log *slog.Logger
	lim *rate.Limiter // refusals logged: another user may flood us
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := checkPeer(c); err != nil {
			if l.lim.Allow() {
				l.log.Warn("control socket: connection refused", "err", err)
			}
			c.Close()
			continue
		}
		return c, nil
	}
}

// Serve answers requests on ln (from Listen) with h until ctx ends, then
// closes ln and removes the socket file. It refuses peers other than root
// and our user, serves one request per connection and at most a few
// connections at once.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "ctlsock")
	path := ln.Addr().String()
	ln = netutil.LimitListener(&peerListener{Listener: ln, log: log, lim: rate.NewLimiter(rate.Every(time.Second), 5)}, maxConns)
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(h, MaxRequestBody),
		ReadHeaderTimeout: readTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srv.SetKeepAlivesEnabled(false)
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"error": err}.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, map[string]string{"error": err.Error()})
}

// Client talks to a running daemon's control socket.
type Client struct {
	name string
	c    *http.Client
}

// Dial returns a client when a daemon listens on path, or an error when
// none does (the caller then opens the data file itself). name prefixes
// its errors ("hub admin", "tetherd").
func Dial(path, name string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return nil, err
	}
	c.Close()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{name: name, c: &http.Client{Transport: tr, Timeout: clientTimeout}}, nil
}

// Do sends one request with in as its JSON body (none when nil) and
// decodes the JSON answer into out (skipped when nil). A non-200 answer is
// an error carrying the daemon's {"error"} text.
func (c *Client) Do(method, path string, in, out any) error {
	raw, err := c.do(method, path, in)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: %s: bad answer: %w", c.name, path, err)
	}
	return nil
}

// Text sends one request and returns the answer's body as it is (for
// reports the daemon formats itself).
func (c *Client) Text(method, path string, in any) (string, error) {
	raw, err := c.do(method, path, in)
	return string(raw), err
}

func (c *Client) do(method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://ctl"+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.name, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("%s: %s: %s", c.name, resp.Status, e.Error)
	}
	return raw, nil
}
