package appliance_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/appliance"
	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/internal/testenv"
	"tether/signaling/engineio"
	"tether/signaling/hub/auth"
	"tether/signaling/socketio"
	"tether/store"
)

// tetherd runs the command line in-process, as cmd/tetherd does.
func tetherd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err := appliance.Main(ctx, args, strings.NewReader(stdin), &out, &errb)
	return out.String() + errb.String(), err
}

// TestControlSocketStatusAndLogin: while the daemon runs (and so holds the
// state file's bbolt lock), `tetherd status` and `tetherd login` talk to it
// over its control socket; a login there is applied at once, as a new
// identity, also for another account in another room. Once the daemon has
// stopped both read and write the file themselves (issue 11, section 4).
func TestControlSocketStatusAndLogin(t *testing.T) {
	dir := t.TempDir()
	th := startHub(t, "127.0.0.1:0", filepath.Join(dir, "hub.db"))
	const other = "counter-2"
	for _, acct := range []string{counter, other} {
		if _, err := th.h.Store().AddAccount(acct, password, auth.RoleCounter, acct); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "tetherd.db")
	// No hub configured: the first login names it (a device provisioned
	// only at its setup page or with tetherd login).
	a, err := appliance.New(testConfig(t, "", data), appliance.Deps{
		Logger:     slog.New(slog.DiscardHandler),
		PeerConfig: func(c *peer.Config) { c.IncludeLoopback = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	defer stop()
	waitOverall(t, a, health.StateLoginNeeded, 10*time.Second)
	sock := appliance.ControlSocket(data)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control socket at %s", sock)
		}
	}
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v %v, want 0600", st.Mode(), err)
	}
	// The daemon holds the lock: opening the file fails, as the commands
	// did before.
	if s, err := store.Open(data, store.Options{LockTimeout: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}); err == nil {
		s.Close()
		t.Fatal("the state file is not locked by the running daemon; the test proves nothing")
	}

	out, err := tetherd(t, "", "status", "-data", data)
	if err != nil || !strings.Contains(out, "daemon       running") || !strings.Contains(out, "session      none (login needed)") {
		t.Fatalf("status while running: %v\n%s", err, out)
	}
	out, err = tetherd(t, "wrong password\n", "login", "-hub", th.url(), "-user", counter, "-data", data)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password via the daemon: %v\n%s", err, out)
	}
	out, err = tetherd(t, password+"\n", "login", "-hub", th.url(), "-user", counter, "-data", data)
	if err != nil || !strings.Contains(out, "applied by the running tetherd") || !strings.Contains(out, "room "+counter) {
		t.Fatalf("login via the daemon: %v\n%s", err, out)
	}
	if strings.Contains(out, password) {
		t.Fatal("the password was echoed")
	}
	th.online(t, true, 15*time.Second)
	waitOverall(t, a, health.StateReadyWaiting, 15*time.Second)

	// A customer joins counter-1's room: the appliance is in a call.
	inv, err := th.h.Store().NewInvite(counter, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	joinAsCustomer(t, th.url(), inv.Code, counter)
	inCall := func() bool {
		st := a.Health().Snapshot().Peer.State
		return st != peer.Idle && st != peer.Waiting
	}
	testenv.Eventually(t, 15*time.Second, "the customer in the call", inCall)

	// Another account, another room, while connected: applied live, and
	// the old room's call is dropped.
	joinsBefore := a.SocketStatus().Connects
	out, err = tetherd(t, password+"\n", "login", "-hub", th.url(), "-user", other, "-data", data)
	if err != nil || !strings.Contains(out, "room "+other) {
		t.Fatalf("login as %s via the daemon: %v\n%s", other, err, out)
	}
	th.accountOnline(t, other, true, 15*time.Second)
	th.online(t, false, 15*time.Second)
	if st := a.SocketStatus(); st.Recovered || st.Connects <= joinsBefore {
		t.Fatalf("socket after the login as %s: %+v", other, st)
	}
	// The hub has the device online in the other account's room (above),
	// so it verified and joined there.
	testenv.Eventually(t, 15*time.Second, "the old room's customer dropped", func() bool { return !inCall() })
	out, err = tetherd(t, "", "status", "-data", data)
	if err != nil || !strings.Contains(out, "room "+other) || !strings.Contains(out, "socket       connected") {
		t.Fatalf("status after the second login: %v\n%s", err, out)
	}

	// The daemon stops: the commands use the file again.
	stop()
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("control socket left behind: %v", err)
	}
	out, err = tetherd(t, "", "status", "-data", data)
	if err != nil || !strings.Contains(out, "daemon       not running") || !strings.Contains(out, "room "+other) {
		t.Fatalf("status from the file: %v\n%s", err, out)
	}
	out, err = tetherd(t, password+"\n", "login", "-hub", th.url(), "-user", counter, "-data", data)
	if err != nil || strings.Contains(out, "applied by the running tetherd") || !strings.Contains(out, "logged in as "+counter) {
		t.Fatalf("login into the file: %v\n%s", err, out)
	}
}

// joinAsCustomer connects a customer (Socket.IO only, no media) and joins
// room with the invite; it stays until the test ends.
func joinAsCustomer(t *testing.T, hubURL, invite, room string) {
	t.Helper()
	var c *socketio.Client
	c, err := socketio.New(socketio.Config{
		Engine: engineio.Config{URL: hubURL},
		Auth:   func() map[string]any { return map[string]any{"role": "customer", "invite": invite, "name": "Ada"} },
		OnConnect: func(ctx context.Context, _ bool) error {
			args, err := c.EmitWithAck(ctx, "room:join", map[string]any{"roomId": room})
			var r struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if err == nil {
				err = args.Decode(0, &r)
			}
			if err == nil && !r.OK {
				err = errors.New(r.Error)
			}
			return err
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
