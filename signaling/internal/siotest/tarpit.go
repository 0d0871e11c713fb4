package siotest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// connSet tracks accepted connections so cleanup can close them and wait
// for their goroutines.
type connSet struct {
	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// add registers c; it returns false (and closes c) after closeAll.
func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *connSet) done(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
	s.wg.Done()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// listenLoopback listens on a random 127.0.0.1 port and serves each accepted
// connection with serve on its own goroutine; cleanup stops everything.
func listenLoopback(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("siotest: listen: %v", err)
	}
	var set connSet
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed by cleanup
			}
			if !set.add(c) {
				continue
			}
			go func() {
				defer set.done(c)
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-acceptDone
		set.closeAll()
	})
	return ln.Addr().String()
}

// Tarpit listens on 127.0.0.1 and accepts connections that never answer:
// whatever the peer sends is read and dropped, nothing is ever written, and
// the connection stays open until the peer closes it or the test ends.
// It returns "127.0.0.1:PORT".
func Tarpit(t testing.TB) (addr string) {
	t.Helper()
	return listenLoopback(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// GarbageTCP listens on 127.0.0.1 and writes data to every accepted
// connection, then closes it. It returns "127.0.0.1:PORT".
func GarbageTCP(t testing.TB, data []byte) (addr string) {
	t.Helper()
	return listenLoopback(t, func(c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(data)
	})
}

// GarbageWSServer serves /socket.io/ on 127.0.0.1. A websocket upgrade is
// accepted and the given frames are written as text messages, in order, as
// they are (any size: oversize frames test maxPayload); the connection then
// stays open, its input read and dropped, until the peer closes it or the
// test ends. A plain HTTP request (polling) gets 200 with the frames joined
// by the Engine.IO v4 record separator 0x1e as body. It returns
// "http://127.0.0.1:PORT".
func GarbageWSServer(t testing.TB, frames [][]byte) (url string) {
	t.Helper()
	up := websocket.Upgrader{
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
	}
	var set connSet
	mux := http.NewServeMux()
	mux.HandleFunc("/socket.io/", func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = w.Write(bytes.Join(frames, []byte{0x1e}))
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		nc := ws.NetConn()
		if !set.add(nc) {
			return
		}
		defer set.done(nc)
		for _, f := range frames {
			_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := ws.WriteMessage(websocket.TextMessage, f); err != nil {
				return
			}
		}
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("siotest: listen: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("siotest: garbage ws server: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close() // closes the listener and non-hijacked connections
		<-serveDone
		set.closeAll() // closes hijacked websocket connections, waits for handlers
	})
	return "http://" + ln.Addr().String()
}
