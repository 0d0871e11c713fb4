package socketio_test

import (
	"sync"
	"testing"
	"time"

	"tether/signaling/internal/siotest"
	"tether/signaling/socketio"
)

// TestNodeNewIdentityNeverRecovers runs against the official socket.io 4.8
// server with connection state recovery on (skipMiddlewares, as the server
// offers it): a session is recovered only by a CONNECT with the auth it was
// made with. A new login (new token, same or other account) presents no pid
// or offset, so the server makes a new session and the connect hook runs
// (issue 11, section 2).
func TestNodeNewIdentityNeverRecovers(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{Recovery: true, Welcome: true})
	ctx := bounded(t, 60*time.Second)
	login := func(user, pw string) string {
		t.Helper()
		l, err := srv.Login(ctx, user, pw)
		if err != nil {
			t.Fatal(err)
		}
		return l.Token
	}
	c := start(t, srv.URL(), opts{token: login(siotest.Account1, siotest.Password1), join: true, persistent: true})
	welcomed := make(chan struct{}, 8)
	c.On("welcome", func(socketio.Args, func(...any)) { welcomed <- struct{}{} })
	// holdOffset waits until the client holds a recovery offset (the
	// server's broadcast after every new session).
	holdOffset := func() {
		t.Helper()
		select {
		case <-welcomed:
		case <-ctx.Done():
			t.Fatal("no welcome broadcast: the client holds no recovery offset")
		}
	}
	// socketAfter returns the server's view of our socket once the hook
	// has joined want times.
	socketAfter := func(want int32, room string) siotest.SocketInfo {
		t.Helper()
		c.waitJoins(t, want)
		socks, err := srv.WaitSockets(ctx, func(s []siotest.SocketInfo) bool { return len(s) == 1 && contains(s[0].Rooms, room) })
		if err != nil {
			t.Fatalf("not in %s: %v %+v", room, err, socks)
		}
		return socks[0]
	}
	c.rec.wait(t, socketio.EventConnect, 10*time.Second)
	holdOffset()
	first := socketAfter(1, siotest.Room1)

	// Contrast: the same credentials after a recoverable transport close
	// recover the session, so recovery is on and the client holds what it
	// needs; the hook does not run.
	if _, err := srv.CloseTransports(true); err != nil {
		t.Fatal(err)
	}
	if e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second); !e.Recovered {
		t.Fatal("same auth: session not recovered; the test proves nothing")
	}
	if s := socketAfter(1, siotest.Room1); s.ID != first.ID || s.Auth["pid"] == nil {
		t.Fatalf("recovered socket %+v, first %+v", s, first)
	}

	// 1. A new login while connected: NewIdentity reconnects at once.
	c.setToken(login(siotest.Account1, siotest.Password1))
	c.NewIdentity()
	if e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second); e.Recovered {
		t.Fatal("new login while connected: the old session was recovered")
	}
	s := socketAfter(2, siotest.Room1)
	if s.ID == first.ID || s.Auth["pid"] != nil || s.Auth["offset"] != nil || s.Recovered {
		t.Fatalf("new login: CONNECT auth %v recovered=%v (old id %s, new %s)", s.Auth, s.Recovered, first.ID, s.ID)
	}
	holdOffset()

	// 2. New auth alone, then a recoverable drop: the changed auth is
	// enough, even without NewIdentity.
	c.setToken(login(siotest.Account1, siotest.Password1))
	if _, err := srv.CloseTransports(true); err != nil {
		t.Fatal(err)
	}
	if e := c.rec.wait(t, socketio.EventReconnect, 15*time.Second); e.Recovered {
		t.Fatal("changed auth: the old session was recovered")
	}
	if s2 := socketAfter(3, siotest.Room1); s2.Auth["pid"] != nil || s2.ID == s.ID {
		t.Fatalf("changed auth: CONNECT auth %v", s2.Auth)
	}
	holdOffset()

	// 3. The server expires the session (session:expired, the connection
	// left for the client to close, so the server keeps it recoverable);
	// a field tech logs in as another account whose room differs.
	c.On("session:expired", func(socketio.Args, func(...any)) { c.ExpireSession() })
	if n, err := srv.Revoke(siotest.Account1); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	for ctx.Err() == nil && c.Status().State != socketio.SessionExpired {
		time.Sleep(10 * time.Millisecond)
	}
	c.setToken(login(siotest.Account2, siotest.Password2))
	c.NewIdentity()
	if e := c.rec.wait(t, socketio.EventConnect, 15*time.Second); e.Recovered {
		t.Fatal("re-login after session:expired: the old session was recovered")
	}
	s3 := socketAfter(4, siotest.Room2)
	if s3.Auth["pid"] != nil || contains(s3.Rooms, siotest.Room1) {
		t.Fatalf("re-login as %s: auth %v rooms %v", siotest.Account2, s3.Auth, s3.Rooms)
	}
	vs, err := srv.Verifies()
	if err != nil || len(vs) == 0 || vs[len(vs)-1].Account != siotest.Account2 || vs[len(vs)-1].Recovered {
		t.Fatalf("verifies %+v %v", vs, err)
	}
}

// TestNodeNewIdentityStates: NewIdentity from backoff and from an attempt
// in flight starts a fresh attempt with the new auth, and buffered emits of
// the old identity are not sent under the new one.
func TestNodeNewIdentityStates(t *testing.T) {
	srv := siotest.StartServer(t, siotest.ServerOptions{Recovery: true, Welcome: true})
	ctx := bounded(t, 30*time.Second)
	// A refused token keeps the client in backoff (persistent mode).
	c := start(t, srv.URL(), opts{token: "bad", join: true, persistent: true})
	c.rec.wait(t, socketio.EventReconnectAttempt, 10*time.Second)
	errc := make(chan error, 1)
	go func() { errc <- c.Emit(ctx, "echo", "old identity") }()
	if err := <-errc; err != nil {
		t.Fatalf("buffer an emit: %v", err)
	}
	l, err := srv.Login(ctx, siotest.Account2, siotest.Password2)
	if err != nil {
		t.Fatal(err)
	}
	c.setToken(l.Token)
	c.NewIdentity()
	c.NewIdentity() // twice: the second abandons the attempt the first started
	c.waitJoins(t, 1)
	if _, err := srv.WaitSockets(ctx, func(s []siotest.SocketInfo) bool { return len(s) == 1 && contains(s[0].Rooms, siotest.Room2) }); err != nil {
		t.Fatal(err)
	}
	evs, err := srv.Events()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Event == "echo" {
			t.Fatalf("an emit buffered under the old identity was sent under the new one: %+v", e)
		}
	}
	if st := c.Status(); st.State != socketio.Connected || st.Recovered {
		t.Fatalf("status %+v", st)
	}
}

// TestNodeNewIdentityOtherServer: a login at another server (Config.URL)
// moves the client there, without the first server's pid and offset.
func TestNodeNewIdentityOtherServer(t *testing.T) {
	a := siotest.StartServer(t, siotest.ServerOptions{Recovery: true, Welcome: true})
	b := siotest.StartServer(t, siotest.ServerOptions{Recovery: true, Welcome: true})
	ctx := bounded(t, 30*time.Second)
	la, err := a.Login(ctx, siotest.Account1, siotest.Password1)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	server := a.URL()
	welcomed := make(chan struct{}, 4)
	c := startWith(t, a.URL(), opts{token: la.Token, join: true, persistent: true}, func(cfg *socketio.Config) {
		cfg.URL = func() string { mu.Lock(); defer mu.Unlock(); return server }
	})
	c.On("welcome", func(socketio.Args, func(...any)) { welcomed <- struct{}{} })
	c.waitJoins(t, 1)
	select {
	case <-welcomed:
	case <-ctx.Done():
		t.Fatal("no offset from server A")
	}
	lb, err := b.Login(ctx, siotest.Account2, siotest.Password2)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	server = b.URL()
	mu.Unlock()
	c.setToken(lb.Token)
	c.NewIdentity()
	c.waitJoins(t, 2)
	socks, err := b.WaitSockets(ctx, func(s []siotest.SocketInfo) bool { return len(s) == 1 && contains(s[0].Rooms, siotest.Room2) })
	if err != nil {
		t.Fatalf("not on server B in room 2: %v %+v", err, socks)
	}
	if socks[0].Auth["pid"] != nil || socks[0].Auth["offset"] != nil {
		t.Fatalf("server B got server A's recovery state: %v", socks[0].Auth)
	}
	if _, err := a.WaitSockets(ctx, func(s []siotest.SocketInfo) bool { return len(s) == 0 }); err != nil {
		t.Fatalf("still on server A: %v", err)
	}
}
