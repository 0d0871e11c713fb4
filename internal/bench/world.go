package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"tether/board/netns"
	"tether/internal/testenv"
	"tether/signaling/official"
)

const (
	counter  = "counter-bench"
	password = "tether-bench password"
	// seedAccount is the official client's account, in a room of its own,
	// so the baseline and tetherd share the hub, the network and the fault
	// but not a room.
	seedAccount = "seed-bench"
	hubPort     = "8080"
	// wait bounds every single recovery: past it a fault counts as not
	// recovered (the runs report; they never time-assert speed).
	wait = 90 * time.Second
)

// world is the topology of issue 16: device A — router R — customer B
// (board/netns), the hub with its TURN server in R, the real tetherd in A
// (sim board, test pattern with its time stamp), a headless Chromium
// customer in B, and the official socket.io-client with the seed's
// settings in A beside tetherd.
type world struct {
	t      *tb
	topo   *netns.Routed
	dir    string
	root   string // the module's source tree
	hub    *hubProc
	hubURL string
	app    *testenv.Tetherd
	sup    *supervisor
	invite string
	br     *testenv.Browser
	seed   *official.Client
	tabs   int
	cust   *testenv.Tab
}

// moduleRoot finds the tether module's tree above the working directory:
// tether-bench builds the binaries it measures from it.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module tether\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("bench: no tether go.mod above %s: run tether-bench inside the source tree", wd)
		}
	}
}

func newWorld(t *tb) *world {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(root); err != nil { // testenv.BuildTetherd builds in the working directory
		t.Fatal(err)
	}
	w := &world{t: t, root: root, dir: t.TempDir()}
	t.printf("building tetherd and tether-hub\n")
	bin := testenv.BuildTetherd(t)
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(bin)) })
	hubBin := filepath.Join(w.dir, "tether-hub")
	testenv.GoBuild(t, root, "./cmd/tether-hub", hubBin)

	w.topo = netns.NewRouted(t)
	w.hubURL = "http://" + net.JoinHostPort(w.topo.AddrRA, hubPort)
	w.hub = &hubProc{t: t, ns: w.topo.R, bin: hubBin, data: filepath.Join(w.dir, "hub", "hub.db"), args: []string{
		"serve", "-listen", "0.0.0.0:" + hubPort, "-public-url", w.hubURL,
		"-turn-udp", w.topo.AddrRA + ":3478", "-turn-tcp", w.topo.AddrRA + ":3478", "-public-ip", w.topo.AddrRA,
		// The namespaces use 10/8, which a public hub's relay refuses.
		"-turn-allow-peers", "10.0.0.0/8",
		// The idle-socket figure opens thousands from few addresses.
		"-max-sessions", "-1", "-max-sessions-per-addr", "-1", "-max-conns-per-addr", "-1"}}
	if err := os.MkdirAll(filepath.Dir(w.hub.data), 0o700); err != nil {
		t.Fatal(err)
	}
	w.hub.start()
	t.Cleanup(w.hub.kill)
	w.hub.cli(password+"\n", "account", "add", counter, "-room", counter)
	w.hub.cli(password+"\n", "account", "add", seedAccount, "-room", seedAccount)
	link := strings.Fields(w.hub.cli("", "invite", counter, "-ttl", "24h"))[0]
	w.invite = link[strings.LastIndex(link, "/")+1:]
	t.printf("hub up in %s at %s\n", w.topo.R, w.hubURL)

	w.sup = startSupervised(t, testenv.TetherdConfig{NS: w.topo.A, Hub: w.hubURL, Dir: filepath.Join(w.dir, "app"), User: counter, Password: password})
	w.app = w.sup.current()
	t.printf("tetherd up in %s (pid %d)\n", w.topo.A, w.app.Pid())
	return w
}

// startSeed starts the official client in A, logged in as seedAccount.
func (w *world) startSeed() {
	tok := w.login(w.topo.A, seedAccount, password)
	w.seed = official.StartClient(w.t, w.hubURL, official.ClientOptions{Token: tok, RoomID: seedAccount, NetNS: w.topo.A})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := w.seed.Next(ctx, "joined"); err != nil {
		w.t.Fatalf("official client did not join: %v", err)
	}
}

// startBrowser starts Chromium in B. The page is not on localhost there,
// so its origin is declared secure (getUserMedia needs a secure context).
func (w *world) startBrowser() {
	w.br = testenv.StartBrowser(w.t, w.topo.B, w.dir, map[string]any{"unsafely-treat-insecure-origin-as-secure": w.hubURL})
}

// customer opens a new customer tab on the invite link.
func (w *world) customer() *testenv.Tab {
	w.tabs++
	name := fmt.Sprintf("phone-%d", w.tabs)
	return w.br.Open(name, w.hubURL+"/c/"+w.invite+"?name="+name)
}

// nsClient is an HTTP client whose connections start inside ns.
func nsClient(ns string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netns.DialTimeout(ns, network, addr, 5*time.Second)
		},
	}}
}

// login posts /api/login from ns and returns the session token.
func (w *world) login(ns, user, pw string) string {
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := nsClient(ns).Post(w.hubURL+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		w.t.Fatalf("login %s: %v", user, err)
	}
	defer resp.Body.Close()
	var r struct{ Token string }
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err := json.Unmarshal(raw, &r); err != nil || r.Token == "" {
		w.t.Fatalf("login %s: %d %s", user, resp.StatusCode, raw)
	}
	return r.Token
}

// hubProc is the real tether-hub binary in R, killed with SIGKILL and
// restarted on the same data file as a crashed server is.
type hubProc struct {
	t    *tb
	ns   string
	bin  string
	data string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  testenv.SyncBuffer
}

// start starts the hub and returns when it answers /healthz (the moment
// "hub up" of the reconnect figures).
func (h *hubProc) start() time.Time {
	args := append([]string{"netns", "exec", h.ns, h.bin}, h.args...)
	args = append(args, "-data", h.data)
	cmd := exec.Command("ip", args...)
	cmd.Stdout = &h.log
	cmd.Stderr = &h.log
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start hub: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	h.mu.Lock()
	h.cmd, h.done = cmd, done
	h.mu.Unlock()
	c := nsClient(h.ns)
	c.Timeout = time.Second
	url := "http://127.0.0.1:" + hubPort + "/healthz"
	for deadline := time.Now().Add(wait); ; time.Sleep(5 * time.Millisecond) {
		select {
		case <-done:
			h.t.Fatalf("hub exited at start: %s", tail(h.log.String(), 2000))
		default:
		}
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("hub not up within %v: %s", wait, tail(h.log.String(), 2000))
		}
	}
}

// kill sends SIGKILL and waits for the process.
func (h *hubProc) kill() {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (h *hubProc) pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil || h.cmd.Process == nil {
		return 0
	}
	return h.cmd.Process.Pid
}

// cli runs `tether-hub ARGS -data DB` on the host (the admin socket beside
// the data file reaches the running hub) with stdin, returning stdout.
func (h *hubProc) cli(stdin string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "-data", h.data)
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("tether-hub %s: %v: %s %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// logTime is the time= attribute of a tetherd log line (slog text).
func logTime(line string) time.Time {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "time="); ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// waitLog waits for a line of the current tetherd's log containing every
// part and stamped after since; it returns the stamp.
func (w *world) waitLog(since time.Time, within time.Duration, parts ...string) (time.Time, error) {
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		for _, l := range w.sup.current().LogLines(parts...) {
			if at := logTime(l); at.After(since) {
				return at, nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("tetherd: no log line %q after %s within %v", parts, since.Format("15:04:05.000"), within)
		}
	}
}

// seedJoined waits for the official client's room:join ack after since.
func (w *world) seedJoined(since time.Time, within time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ev, err := w.seed.WaitFor(ctx, func(e official.Event) bool { return e.Name == "joined" && !e.At.Before(since) })
	return ev.At, err
}

func frames(tab *testenv.Tab) int {
	s, _ := tab.State()
	return s.Stats.FramesDecoded
}
