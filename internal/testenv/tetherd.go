package testenv

import (
	"bufio"
	"context"
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
	"testing"
	"time"

	"tether/board/netns"
)

var (
	tetherdOnce sync.Once
	tetherdBin  string
	tetherdErr  error
)

// BuildTetherd builds cmd/tetherd once per test binary and returns its path.
func BuildTetherd(t testing.TB) string {
	t.Helper()
	tetherdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tether-systest-")
		if err != nil {
			tetherdErr = err
			return
		}
		tetherdBin = filepath.Join(dir, "tetherd")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", tetherdBin, "tether/cmd/tetherd").CombinedOutput()
		if err != nil {
			tetherdErr = fmt.Errorf("go build tetherd: %v: %s", err, out)
		}
	})
	if tetherdErr != nil {
		t.Fatal(tetherdErr)
	}
	return tetherdBin
}

// tetherdEnv is the test's environment without the machine's config file
// (/etc/tether/tetherd.json would otherwise be a layer of the config).
func tetherdEnv() []string { return append(os.Environ(), "TETHER_CONFIG=/dev/null") }

// TetherdConfig says where and how the real tetherd runs.
type TetherdConfig struct {
	NS       string // network namespace ("" runs on the host)
	Hub      string // hub base URL
	Dir      string // holds tetherd.db
	User     string // `tetherd login` account; empty skips the login
	Password string
	// MetricsAddr is -metrics-addr (default 127.0.0.1:9101, inside NS).
	MetricsAddr string
	// Args are more flags (e.g. -setup-addr).
	Args []string
}

// Tetherd is the appliance binary running (in a namespace), its log
// watched for the WebRTC layer's state transitions and its serial console
// (-console -: stdout) kept, as a field tech with a USB-serial cable reads
// it.
type Tetherd struct {
	t       testing.TB
	cfg     TetherdConfig
	db      string
	cmd     *exec.Cmd
	states  chan string // "to" of every peer state transition
	mu      sync.Mutex
	tail    []string // the last log lines, shown when a test fails
	log     []string // the last maxLogLines log lines; log[0] is line number logBase
	logBase int
	console []string
	done    chan struct{}
	conDone chan struct{}
}

// DB is the state file's path.
func (d *Tetherd) DB() string { return d.db }

// Login runs `tetherd login` for user against the hub, the password on
// stdin as a factory script gives it.
func Login(t testing.TB, ns, hub, db, user, password string) {
	t.Helper()
	args := []string{BuildTetherd(t), "login", "-hub", hub, "-user", user, "-data", db}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	login := exec.CommandContext(ctx, args[0], args[1:]...)
	login.Env = tetherdEnv()
	login.Stdin = strings.NewReader(password + "\n")
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("tetherd login: %v: %s", err, out)
	}
}

// StartTetherd logs in (when cfg.User is set) and starts tetherd on the sim
// board with the test camera and microphone at 320×180, 15 fps. It is
// stopped (SIGTERM) at cleanup.
func StartTetherd(t testing.TB, cfg TetherdConfig) *Tetherd {
	t.Helper()
	bin := BuildTetherd(t)
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = "127.0.0.1:9101"
	}
	db := filepath.Join(cfg.Dir, "tetherd.db")
	if cfg.User != "" {
		Login(t, cfg.NS, cfg.Hub, db, cfg.User, cfg.Password)
	}
	args := append([]string{bin, "-board", "sim", "-hub", cfg.Hub, "-data", db,
		"-setup-addr", "", "-metrics-addr", cfg.MetricsAddr, "-console", "-", "-camera", "test", "-mic", "test",
		"-width", "320", "-height", "180", "-fps", "15", "-bitrate", "300"}, cfg.Args...)
	if cfg.NS != "" {
		args = append([]string{"ip", "netns", "exec", cfg.NS}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = tetherdEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &Tetherd{t: t, cfg: cfg, db: db, cmd: cmd, states: make(chan string, 1024), done: make(chan struct{}), conDone: make(chan struct{})}
	go d.read(stderr)
	go d.readConsole(stdout)
	t.Cleanup(d.Stop)
	return d
}

func (d *Tetherd) read(r io.Reader) {
	defer close(d.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		d.mu.Lock()
		d.tail = append(d.tail, line)
		if len(d.tail) > 300 {
			d.tail = d.tail[100:]
		}
		d.log = append(d.log, line)
		if len(d.log) > maxLogLines {
			drop := len(d.log) - maxLogLines/2
			d.log = append([]string(nil), d.log[drop:]...)
			d.logBase += drop
		}
		d.mu.Unlock()
		if strings.Contains(line, "component=peer") && strings.Contains(line, "msg=state ") {
			for _, f := range strings.Fields(line) {
				if to, ok := strings.CutPrefix(f, "to="); ok {
					select {
					case d.states <- to:
					default:
					}
				}
			}
		}
	}
}

func (d *Tetherd) readConsole(r io.Reader) {
	defer close(d.conDone)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.console = append(d.console, strings.TrimRight(sc.Text(), "\r"))
		d.mu.Unlock()
	}
}

// ConsoleMark is where the next WaitConsole starts looking.
func (d *Tetherd) ConsoleMark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.console)
}

// WaitConsole waits for a console line after mark that contains every
// one of parts, and returns it.
func (d *Tetherd) WaitConsole(mark int, within time.Duration, parts ...string) string {
	d.t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		d.mu.Lock()
		for _, l := range d.console[min(mark, len(d.console)):] {
			if containsAll(l, parts) {
				d.mu.Unlock()
				return l
			}
		}
		d.mu.Unlock()
		if time.Now().After(deadline) {
			d.mu.Lock()
			d.t.Fatalf("serial console: no line with %q within %v; last lines:\n%s", parts, within,
				strings.Join(d.console[max(0, len(d.console)-10):], "\n"))
			d.mu.Unlock()
		}
	}
}

// maxLogLines bounds the log kept in memory (a 1000-change run at debug
// level writes millions of lines).
const maxLogLines = 200000

// LogMark is where a later LogSince starts: the number of log lines seen.
func (d *Tetherd) LogMark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logBase + len(d.log)
}

// LogSince returns the log lines (stderr) after mark that are still kept,
// e.g. one failed customer change's whole log.
func (d *Tetherd) LogSince(mark int) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log[min(max(mark-d.logBase, 0), len(d.log)):]...)
}

// LogLines returns the kept log lines (stderr) that contain every one of
// parts.
func (d *Tetherd) LogLines(parts ...string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, l := range d.log {
		if containsAll(l, parts) {
			out = append(out, l)
		}
	}
	return out
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Stop ends tetherd with SIGTERM (SIGKILL after 15 s) and, when the test
// failed or TETHERD_LOG is set, logs its last lines and its console.
func (d *Tetherd) Stop() {
	if d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	<-d.conDone
	_ = d.cmd.Wait()
	if d.t.Failed() || os.Getenv("TETHERD_LOG") != "" {
		d.mu.Lock()
		d.t.Logf("tetherd log tail:\n%s", strings.Join(d.tail, "\n"))
		d.t.Logf("tetherd serial console:\n%s", strings.Join(d.console, "\n"))
		d.mu.Unlock()
	}
}

// Drain forgets the peer state transitions seen so far.
func (d *Tetherd) Drain() {
	for {
		select {
		case <-d.states:
		default:
			return
		}
	}
}

// WaitState waits for the appliance's peer to enter want.
func (d *Tetherd) WaitState(want string, within time.Duration) {
	d.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case s := <-d.states:
			if s == want {
				return
			}
		case <-deadline:
			d.t.Fatalf("tetherd: peer state %s not reached within %v", want, within)
		}
	}
}

// Metric reads one sample from tetherd's /metrics (inside its namespace);
// "" when it is not there.
func (d *Tetherd) Metric(name string) string {
	d.t.Helper()
	v, err := d.MetricErr(name)
	if err != nil {
		d.t.Fatalf("tetherd metrics: %v", err)
	}
	return v
}

// MetricErr is Metric for callers that retry (a loaded box can make one
// read time out).
func (d *Tetherd) MetricErr(name string) (string, error) {
	// One request per connection: a transport per call that kept its
	// connection alive left it open in tetherd and here (a soak's fds).
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if d.cfg.NS == "" {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			return netns.DialTimeout(d.cfg.NS, network, addr, 5*time.Second)
		},
	}}
	resp, err := c.Get("http://" + d.cfg.MetricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return f[1], nil
		}
	}
	return "", nil
}

// Pid is the running tetherd's process id (0 before it started): the
// benchmarks read its CPU time and RSS from /proc and kill -9 it.
func (d *Tetherd) Pid() int {
	if d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Kill ends tetherd with SIGKILL, as a power cut or the OOM killer would,
// and waits until it is gone.
func (d *Tetherd) Kill() {
	if d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	<-d.conDone
	_ = d.cmd.Wait()
}

// Done is closed when tetherd's log ends (the process exited).
func (d *Tetherd) Done() <-chan struct{} { return d.done }
