package socketio_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling/engineio"
	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

func TestNodeSendBuffer(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	c := start(t, srv.URL(), opts{persistent: true})
	c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	srv.Kill()
	c.rec.wait(t, socketio.EventDisconnect, 10*time.Second)
	ctx := bounded(t, 20*time.Second)

	// Volatile emits are dropped while disconnected.
	if err := c.EmitVolatile(ctx, "echo", 1); !errors.Is(err, socketio.ErrNotConnected) {
		t.Fatalf("volatile while down: %v", err)
	}
	// A buffered emit with ack is delivered after the reconnect.
	res := make(chan error, 1)
	go func() {
		args, err := c.EmitWithAck(ctx, "echo", "buffered")
		var s string
		if err == nil {
			err = args.Decode(0, &s)
		}
		if err == nil && s != "buffered" {
			err = errors.New("wrong echo " + s)
		}
		res <- err
	}()
	time.Sleep(100 * time.Millisecond)
	srv.Restart()
	if err := <-res; err != nil {
		t.Fatalf("buffered emit: %v", err)
	}
}

func TestNodeSendBufferDropsStaleAndBounds(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	cfg := socketio.Config{
		Engine:           engineio.Config{URL: srv.URL()},
		Persistent:       true,
		SendBuffer:       2,
		SendBufferMaxAge: 300 * time.Millisecond,
		Auth:             func() map[string]any { return map[string]any{"role": "device", "token": "good-token"} },
		Logger:           testenv.Logger(),
	}
	rec := newRecorder()
	cfg.OnEvent = rec.onEvent
	c, err := socketio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	rec.wait(t, socketio.EventConnect, 10*time.Second)
	srv.Kill()
	rec.wait(t, socketio.EventDisconnect, 10*time.Second)

	actx, acancel := context.WithTimeout(ctx, 20*time.Second)
	defer acancel()
	stale := make(chan error, 1)
	go func() { _, err := c.EmitWithAck(actx, "echo", "old offer"); stale <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := c.Emit(actx, "echo", "second"); err != nil {
		t.Fatalf("second buffered emit: %v", err)
	}
	if err := c.Emit(actx, "echo", "third"); !errors.Is(err, socketio.ErrBufferFull) {
		t.Fatalf("third emit into a full buffer: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // older than SendBufferMaxAge
	srv.Restart()
	if err := <-stale; !errors.Is(err, socketio.ErrStale) {
		t.Fatalf("stale emit: %v, want ErrStale", err)
	}
}

func TestNodeAckTimeout(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	c := start(t, srv.URL(), opts{persistent: true})
	c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The server has no handler for this event, so it never acknowledges.
	if _, err := c.EmitWithAck(ctx, "nobody:answers", 1); !errors.Is(err, socketio.ErrAckTimeout) {
		t.Fatalf("err %v, want ErrAckTimeout", err)
	}
	// The socket is still fine.
	args, err := c.EmitWithAck(bounded(t, 5*time.Second), "echo", 7)
	var n int
	if err != nil || args.Decode(0, &n) != nil || n != 7 {
		t.Fatalf("echo after a timeout: %v", err)
	}
}

// TestNodeTLSWithPrivateCA reaches the official server through a TLS
// reverse proxy whose certificate only a configured CA verifies: wss and
// https polling work with RootCAs, and fail without.
func TestNodeTLSWithPrivateCA(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	target, _ := url.Parse(srv.URL())
	proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(proxy.Close)
	pool := x509.NewCertPool()
	pool.AddCert(proxy.Certificate())
	wss := strings.Replace(proxy.URL, "https://", "wss://", 1)

	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			c := start(t, wss, opts{persistent: true, transports: []string{tr}, engine: engineio.Config{RootCAs: pool}})
			e := c.rec.wait(t, socketio.EventConnect, 10*time.Second)
			if e.Transport != tr {
				t.Fatalf("transport %s", e.Transport)
			}
		})
	}
	t.Run("unknown CA refused", func(t *testing.T) {
		c := start(t, wss, opts{persistent: true})
		e := c.rec.wait(t, socketio.EventConnectError, 10*time.Second)
		var uerr x509.UnknownAuthorityError
		var cerr *tls.CertificateVerificationError
		if !errors.As(e.Err, &uerr) && !errors.As(e.Err, &cerr) {
			t.Fatalf("error %v is not a certificate verification failure", e.Err)
		}
	})
}

// TestProxyFromConfig sends both transports through an HTTP proxy (the
// environment's proxy settings skip loopback, so the test injects it).
func TestNodeThroughHTTPProxy(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{})
	var used = make(chan string, 64)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case used <- r.Method:
		default:
		}
		if r.Method == http.MethodConnect {
			connectTunnel(w, r)
			return
		}
		// Plain HTTP proxying for polling.
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		copyBody(w, resp)
	}))
	t.Cleanup(proxy.Close)
	pu, _ := url.Parse(proxy.URL)
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			c := start(t, srv.URL(), opts{persistent: true, transports: []string{tr}, engine: engineio.Config{Proxy: http.ProxyURL(pu)}})
			c.rec.wait(t, socketio.EventConnect, 10*time.Second)
			select {
			case m := <-used:
				if tr == "websocket" && m != http.MethodConnect {
					t.Fatalf("websocket went through the proxy with %s, want CONNECT", m)
				}
			default:
				t.Fatal("the proxy saw no request")
			}
			for len(used) > 0 {
				<-used
			}
		})
	}
}
