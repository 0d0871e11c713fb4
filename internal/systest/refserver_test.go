package systest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/board/netns"
	"tether/internal/testenv"
)

// account is one counter account of the reference server.
type account struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"deviceId"`
	RoomID   string `json:"roomId"`
}

// refOptions is the JSON object refserver/server.js reads.
type refOptions struct {
	Host             string            `json:"host"`
	Port             int               `json:"port"`
	AdminPort        int               `json:"adminPort"`
	Accounts         []account         `json:"accounts"`
	Invites          map[string]string `json:"invites"`
	StateFile        string            `json:"stateFile"`
	RecoveryWindowMs int64             `json:"recoveryWindowMs,omitempty"`
	LeaveGraceMs     int64             `json:"leaveGraceMs,omitempty"`
	OwnPageDir       string            `json:"ownPageDir,omitempty"`
}

// event is one entry of the reference server's event log.
type event struct {
	Seq       int             `json:"seq"`
	T         float64         `json:"t"` // wall clock, ms since the epoch
	Ev        string          `json:"ev"`
	SID       string          `json:"sid"`
	UserID    string          `json:"userId"`
	Role      string          `json:"role"`
	Username  string          `json:"username"`
	Recovered bool            `json:"recovered"`
	RoomID    string          `json:"roomId"`
	OK        bool            `json:"ok"`
	Error     string          `json:"error"`
	Reason    string          `json:"reason"`
	To        string          `json:"to"`
	From      string          `json:"from"`
	Kind      string          `json:"kind"`
	Event     string          `json:"event"`
	Payload   json.RawMessage `json:"payload"`
}

func (e event) time() time.Time { return time.UnixMicro(int64(e.T * 1000)) }

func (e event) String() string {
	s := fmt.Sprintf("#%d %s", e.Seq, e.Ev)
	for _, kv := range [][2]string{{"user", e.UserID}, {"username", e.Username}, {"room", e.RoomID},
		{"event", e.Event}, {"to", e.To}, {"kind", e.Kind}, {"reason", e.Reason}, {"error", e.Error}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	if e.Ev == "connect" {
		s += fmt.Sprintf(" recovered=%v", e.Recovered)
	}
	return s
}

// refServer is refserver/server.js running under node inside namespace ns,
// on fixed ports so it can be killed and started again; its sessions live
// in a state file like a real server's database.
type refServer struct {
	t       testing.TB
	ns      string
	node    string
	dir     string
	opts    refOptions
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	events  []event // every event of every run so far (seq restarts per run)
	since   int     // last seq fetched from the current run
	runs    int
	control *http.Client
}

var (
	nodeOnce sync.Once
	nodeSkip string
	nodeBin  string
	refDir   string
)

// requireRefServer finds node and installs the reference server's npm
// packages (the official socket.io server and client) when needed.
func requireRefServer(t testing.TB) (node, dir string) {
	t.Helper()
	nodeOnce.Do(func() {
		var err error
		if nodeBin, err = exec.LookPath("node"); err != nil {
			nodeSkip = "node not found (install Debian's nodejs and npm; CI installs them)"
			return
		}
		_, file, _, _ := runtime.Caller(0)
		refDir = filepath.Join(filepath.Dir(file), "refserver")
		if err := testenv.NPMInstall(refDir); err != nil {
			nodeSkip = err.Error()
		}
	})
	if nodeSkip != "" {
		t.Skip(nodeSkip)
	}
	return nodeBin, refDir
}

func startRefServer(t testing.TB, ns string, opts refOptions) *refServer {
	t.Helper()
	node, dir := requireRefServer(t)
	s := &refServer{t: t, ns: ns, node: node, dir: dir, opts: opts}
	s.control = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return netns.DialTimeout(ns, network, addr, 5*time.Second)
		},
	}}
	s.start()
	t.Cleanup(s.kill)
	return s
}

// start runs server.js and waits for its ready line; the first run picks
// free ports, later runs reuse them.
func (s *refServer) start() {
	s.t.Helper()
	arg, err := json.Marshal(s.opts)
	if err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cmd := exec.Command("ip", "netns", "exec", s.ns, s.node, "server.js", string(arg))
		cmd.Dir = s.dir
		cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
		cmd.Stderr = io.Discard
		if os.Getenv("REFSERVER_LOG") != "" {
			cmd.Stderr = os.Stderr
		}
		cmd.WaitDelay = 5 * time.Second
		// stdin is a pipe the server watches: it exits when the test does.
		if _, err := cmd.StdinPipe(); err != nil {
			s.t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			s.t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("refserver: %v", err)
		}
		ready := make(chan refOptions, 1)
		done := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var r struct {
					Ready     bool `json:"ready"`
					Port      int  `json:"port"`
					AdminPort int  `json:"adminPort"`
				}
				if json.Unmarshal(sc.Bytes(), &r) == nil && r.Ready {
					ready <- refOptions{Port: r.Port, AdminPort: r.AdminPort}
				}
			}
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case r := <-ready:
			s.mu.Lock()
			s.cmd, s.done = cmd, done
			s.opts.Port, s.opts.AdminPort = r.Port, r.AdminPort
			s.since = 0
			s.runs++
			s.mu.Unlock()
			return
		case <-done:
			// The port of the killed server may still be held for a moment.
			if time.Now().After(deadline) {
				s.t.Fatalf("refserver did not start (exit %v)", cmd.ProcessState)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			s.t.Fatal("refserver: no ready line within 20 s")
		}
	}
}

// kill sends SIGKILL (ip netns exec execs node, so it is node's pid) and
// waits for the process.
func (s *refServer) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// restart is kill -9 and start again on the same ports and state file. It
// returns the mark where the new run's events begin.
func (s *refServer) restart() int {
	s.t.Helper()
	mark := s.mark() // keep what the old run logged
	s.kill()
	s.start()
	return mark
}

// url is the server's address as tetherd (in the other namespace) dials it.
func (s *refServer) url(host string) string {
	return fmt.Sprintf("http://%s:%d", host, s.opts.Port)
}

func (s *refServer) admin(method, path string, q url.Values) []byte {
	s.t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s?%s", s.opts.AdminPort, path, q.Encode()), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.control.Do(req)
	if err != nil {
		s.t.Fatalf("refserver admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if resp.StatusCode != 200 {
		s.t.Fatalf("refserver admin %s: %s: %s", path, resp.Status, b)
	}
	return b
}

// fetch appends the events logged since the last fetch and returns their
// number.
func (s *refServer) fetch() int {
	s.t.Helper()
	s.mu.Lock()
	since := s.since
	s.mu.Unlock()
	var r struct {
		Seq    int     `json:"seq"`
		Events []event `json:"events"`
	}
	if err := json.Unmarshal(s.admin("GET", "/events", url.Values{"since": {fmt.Sprint(since)}}), &r); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range r.Events {
		// Signals and status reports are many (a thousand customer
		// changes log hundreds of thousands); no test looks them up.
		if e.Ev != "signal" && e.Ev != "device:status" {
			s.events = append(s.events, e)
		}
	}
	s.since = r.Seq
	return len(r.Events)
}

// mark is where the next waitEvent starts looking.
func (s *refServer) mark() int {
	s.fetch()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// find returns the first event at or after mark for which match holds.
func (s *refServer) find(mark int, match func(event) bool) (event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events[min(mark, len(s.events)):] {
		if match(e) {
			return e, true
		}
	}
	return event{}, false
}

// findLast returns the newest event for which match holds.
func (s *refServer) findLast(match func(event) bool) (event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if match(s.events[i]) {
			return s.events[i], true
		}
	}
	return event{}, false
}

// waitEvent waits for an event after mark for which match holds.
func (s *refServer) waitEvent(mark int, what string, within time.Duration, match func(event) bool) event {
	s.t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		s.fetch()
		if e, ok := s.find(mark, match); ok {
			return e
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("refserver: %s not seen within %v; events since the mark:\n%s", what, within, s.dump(mark))
		}
	}
}

// dump lists the events after mark.
func (s *refServer) dump(mark int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.events[min(mark, len(s.events)):] {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}

// expire ends every session of username (session:expired to its device).
func (s *refServer) expire(username string) {
	s.admin("POST", "/expire", url.Values{"username": {username}})
}

// disconnect closes userId's sockets server-side: mode "disconnect" sends
// a Socket.IO DISCONNECT, "transport" only closes the transport (the kind
// of drop connection state recovery resumes).
func (s *refServer) disconnect(userID, mode string) {
	s.admin("POST", "/disconnect", url.Values{"userId": {userID}, "mode": {mode}})
}
