package appliance_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tether/appliance"
	"tether/appliance/console"
	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/appliance/setup"
	"tether/internal/testenv"
	"tether/internal/testenv/testhub"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
	"tether/signaling/socketio"
)

const (
	counter  = "counter-1"
	password = "correct horse battery"
)

// testHub is an in-process hub on a fixed loopback port and data file, so
// it can be stopped and started again like a real restart.
type testHub struct {
	addr, data string
	h          *testhub.Hub
}

func startHub(t *testing.T, addr, data string) *testHub {
	t.Helper()
	return startHubWith(t, addr, data, nil)
}

// startHubWith is startHub with a change to the hub's configuration.
func startHubWith(t *testing.T, addr, data string, mod func(*hub.Config)) *testHub {
	t.Helper()
	ln := testenv.Listen(t, addr)
	hc := hub.Config{Listener: ln, DataPath: data, PublicURL: "http://" + ln.Addr().String()}
	if mod != nil {
		mod(&hc)
	}
	return &testHub{addr: ln.Addr().String(), data: data, h: testhub.Start(t, hc)}
}

func (th *testHub) url() string { return "http://" + th.addr }

func (th *testHub) stop() { th.h.Stop() }

// online waits until the hub lists the counter as connected (in its room).
func (th *testHub) online(t *testing.T, want bool, d time.Duration) {
	t.Helper()
	th.accountOnline(t, counter, want, d)
}

// accountOnline waits until the hub lists account as connected or not.
func (th *testHub) accountOnline(t *testing.T, account string, want bool, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := th.h.Fleet()
		if err == nil {
			for _, e := range f {
				if e.Account == account && e.Online == want {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s online=%v not seen within %v", account, want, d)
}

func testConfig(t *testing.T, hubURL, data string) appliance.Config {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	appliance.RegisterFlags(fs)
	for k, v := range map[string]string{"board": "sim", "hub": hubURL, "data": data, "setup-addr": "", "metrics-addr": "",
		"camera": "test", "mic": "test", "width": "320", "height": "180", "fps": "15", "bitrate": "300"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := appliance.Resolve(fs, func(string) string { return "" }, func(string) ([]byte, error) { return nil, os.ErrNotExist }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func waitOverall(t *testing.T, a *appliance.App, want health.State, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if a.Health().Snapshot().Overall == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("overall state %v, want %v (%s)", a.Health().Snapshot().Overall, want, a.Health().Snapshot().Reason)
}

// TestApplianceHubRestartAndRevocation: the device joins its room, comes
// back by itself after the hub restarts, shows "login needed" when its
// session is revoked and resumes after a new login without a restart.
func TestApplianceHubRestartAndRevocation(t *testing.T) {
	dir := t.TempDir()
	th := startHub(t, "127.0.0.1:0", filepath.Join(dir, "hub.db"))
	if _, err := th.h.Store().AddAccount(counter, password, auth.RoleCounter, counter); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, th.url(), filepath.Join(dir, "tetherd.db"))
	serial := &testenv.SyncBuffer{}
	var setupSrv *setup.Server
	setupLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(cfg, appliance.Deps{
		Logger:     slog.New(slog.DiscardHandler),
		PeerConfig: func(c *peer.Config) { c.IncludeLoopback = true },
		Extras: []func(*appliance.App) appliance.Component{func(a *appliance.App) appliance.Component {
			s, err := a.SetupServer("", nil, setupLn)
			if err != nil {
				t.Error(err)
				return nil
			}
			setupSrv = s
			return s
		}, func(a *appliance.App) appliance.Component {
			c, err := console.New(console.Config{Health: a.Health(), Out: serial})
			if err != nil {
				t.Error(err)
				return nil
			}
			return c
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Without a session the appliance waits for a login.
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitOverall(t, a, health.StateLoginNeeded, 10*time.Second)
	if _, err := a.Login(ctx, th.url(), counter, "wrong password"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := a.Login(ctx, th.url(), counter, password); err != nil {
		t.Fatal(err)
	}
	th.online(t, true, 15*time.Second)
	waitOverall(t, a, health.StateReadyWaiting, 15*time.Second)

	// Hub restart on the same address and data: back in the room.
	th.stop()
	th2 := startHub(t, th.addr, th.data)
	th2.online(t, true, 20*time.Second)
	if st := a.SocketStatus(); st.Reconnects < 1 {
		t.Fatalf("reconnects %d", st.Reconnects)
	}

	// Revocation: login needed, socket stopped, camera pipeline kept.
	seen := len(serial.String())
	if _, err := th2.h.RevokeAccount(counter); err != nil {
		t.Fatal(err)
	}
	waitOverall(t, a, health.StateLoginNeeded, 10*time.Second)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(serial.String()[seen:], "login-needed"); {
		if time.Now().After(deadline) {
			t.Fatalf("the serial console never said login-needed:\n%s", serial.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(5 * time.Second); a.SocketStatus().State != socketio.SessionExpired; {
		if time.Now().After(deadline) {
			t.Fatalf("socket state %v", a.SocketStatus().State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	frames := a.MediaStatus().Frames
	time.Sleep(300 * time.Millisecond)
	if a.MediaStatus().Frames <= frames {
		t.Fatal("the media pipeline stopped while login was needed")
	}
	// The account is revoked for good; a new account is how the operator
	// gives the counter back. The field tech logs in on the setup page.
	if _, err := th2.h.Store().AddAccount("counter-2", password, auth.RoleCounter, "counter-2"); err != nil {
		t.Fatal(err)
	}
	page := newSetupClient(t, "https://"+setupLn.Addr().String(), setupSrv.Fingerprint())
	// Choosing the first password also logs the page in.
	page.post("/api/password", url.Values{"password": {"setup-secret-1"}, "confirm": {"setup-secret-1"}}, 200)
	if st := page.get("/api/status"); !strings.Contains(st, "login-needed") {
		t.Fatalf("setup page status does not say login is needed: %.400s", st)
	}
	page.post("/api/hub-login", url.Values{"hubUrl": {th2.url()}, "username": {"counter-2"}, "password": {"wrong one"}}, 401)
	page.post("/api/hub-login", url.Values{"hubUrl": {th2.url()}, "username": {"counter-2"}, "password": {password}}, 200)
	waitOverall(t, a, health.StateReadyWaiting, 15*time.Second)
	if st := a.SocketStatus(); st.State != socketio.Connected {
		t.Fatalf("socket %v after the setup-page login", st.State)
	}
}

// TestSessionExpiredNewLoginResumes: the stored session runs out; at the
// next connect the hub answers session_expired; the appliance shows
// login-needed (and keeps its camera) until a new login with the same
// account, then it is back in its room, ready, without a restart.
func TestSessionExpiredNewLoginResumes(t *testing.T) {
	dir := t.TempDir()
	const ttl = 2 * time.Second
	short := func(c *hub.Config) { c.SessionTTL = ttl }
	th := startHubWith(t, "127.0.0.1:0", filepath.Join(dir, "hub.db"), short)
	a, ctx, done := runLoggedIn(t, th, dir)

	// The session runs out while connected; the next connect is refused.
	time.Sleep(ttl + 500*time.Millisecond)
	th.stop()
	th2 := startHubWith(t, th.addr, th.data, short)
	waitOverall(t, a, health.StateLoginNeeded, 15*time.Second)
	if st := a.SocketStatus(); st.State != socketio.SessionExpired {
		t.Fatalf("socket %v, want session expired", st.State)
	}
	frames := a.MediaStatus().Frames
	time.Sleep(300 * time.Millisecond)
	if a.MediaStatus().Frames <= frames {
		t.Fatal("the media pipeline stopped while login was needed")
	}

	// A new login (same account) resumes: back in the room, ready.
	if _, err := a.Login(ctx, th2.url(), counter, password); err != nil {
		t.Fatal(err)
	}
	th2.online(t, true, 15*time.Second)
	waitOverall(t, a, health.StateReadyWaiting, 15*time.Second)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v: a login must not restart the appliance", err)
	default:
	}
}

// setupClient drives the setup page's JSON API as its script does:
// cookies, and the CSRF token from /api/state on every POST.
type setupClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

// newSetupClient trusts the page's self-signed certificate by its
// fingerprint, as the technician does with the serial console's line.
func newSetupClient(t *testing.T, base, fingerprint string) *setupClient {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: testenv.PinnedTLS(fingerprint)}
	t.Cleanup(tr.CloseIdleConnections)
	return &setupClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: tr}}
}

func (s *setupClient) get(path string) string {
	s.t.Helper()
	resp, err := s.c.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (s *setupClient) post(path string, form url.Values, want int) {
	s.t.Helper()
	var st struct {
		CSRF string `json:"csrf"`
	}
	if err := json.Unmarshal([]byte(s.get("/api/state")), &st); err != nil || st.CSRF == "" {
		s.t.Fatalf("no CSRF token: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", st.CSRF)
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("POST %s: %d %s, want %d", path, resp.StatusCode, b, want)
	}
}

// TestTetherdKill9ResumesSession builds tetherd, provisions it with
// `tetherd login`, kills it with SIGKILL and starts it again: the new
// process joins its room with the stored session and no new login.
func TestTetherdKill9ResumesSession(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs tetherd")
	}
	dir := t.TempDir()
	bin := testenv.BuildTetherd(t)
	th := startHub(t, "127.0.0.1:0", filepath.Join(dir, "hub.db"))
	if _, err := th.h.Store().AddAccount(counter, password, auth.RoleCounter, counter); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "tetherd.db")
	login := exec.Command(bin, "login", "-hub", th.url(), "-user", counter, "-data", data)
	login.Stdin = strings.NewReader(password + "\n")
	out, err := login.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "logged in as counter-1") {
		t.Fatalf("tetherd login: %v\n%s", err, out)
	}
	if strings.Contains(string(out), password) {
		t.Fatal("the password was echoed")
	}
	if b, _ := os.ReadFile(data); strings.Contains(string(b), password) {
		t.Fatal("the password is in the state file")
	}
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "-hub", th.url(), "-data", data, "-board", "sim", "-setup-addr", "", "-metrics-addr", "",
			"-width", "320", "-height", "180", "-fps", "10", "-log-level", "warn")
		cmd.Env = append(os.Environ(), "TETHER_CONFIG=/dev/null")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				t.Logf("tetherd: %s", sc.Text())
			}
		}()
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	p1 := run()
	th.online(t, true, 20*time.Second)
	_ = p1.Process.Signal(syscall.SIGKILL)
	_ = p1.Wait()
	th.online(t, false, 10*time.Second)
	// SIGKILL left the control socket behind: the commands see nobody
	// answers and read the file; the next daemon replaces the socket.
	status := func(want string) {
		t.Helper()
		out, err := exec.Command(bin, "status", "-data", data).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("tetherd status: %v, want %q in\n%s", err, want, out)
		}
	}
	status("daemon       not running")
	p2 := run()
	th.online(t, true, 20*time.Second)

	// While it runs (and holds the file's lock), status and login go
	// through its control socket; the login applies at once.
	status("daemon       running")
	connects := func() uint64 {
		f, _ := th.h.Fleet()
		for _, e := range f {
			if e.Account == counter && e.Online {
				return e.Connects
			}
		}
		return 0
	}
	before := connects()
	login = exec.Command(bin, "login", "-hub", th.url(), "-user", counter, "-data", data)
	login.Stdin = strings.NewReader(password + "\n")
	if out, err := login.CombinedOutput(); err != nil || !strings.Contains(string(out), "applied by the running tetherd") {
		t.Fatalf("tetherd login while running: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(15 * time.Second); connects() <= before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the login was not applied: hub connects %d → %d", before, connects())
		}
	}
	status("socket       connected")
	_ = p2.Process.Signal(syscall.SIGTERM)
	_ = p2.Wait()
	status("daemon       not running")
}

// runLoggedIn adds the counter's account to th, runs an appliance with its
// state file in dir until the test ends, logs it in and waits until it is
// ready and waiting. ctx ends when the test does; done gets what Run
// returns.
func runLoggedIn(t *testing.T, th *testHub, dir string) (a *appliance.App, ctx context.Context, done <-chan error) {
	t.Helper()
	if _, err := th.h.Store().AddAccount(counter, password, auth.RoleCounter, counter); err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(testConfig(t, th.url(), filepath.Join(dir, "tetherd.db")), appliance.Deps{
		Logger:     slog.New(slog.DiscardHandler),
		PeerConfig: func(c *peer.Config) { c.IncludeLoopback = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc, stopped := make(chan error, 1), make(chan struct{})
	go func() { errc <- a.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	if _, err := a.Login(ctx, th.url(), counter, password); err != nil {
		t.Fatal(err)
	}
	waitOverall(t, a, health.StateReadyWaiting, 15*time.Second)
	return a, ctx, errc
}
