package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartupFault is one kind of bad input at start-up (issue 14): Setup
// prepares dir and returns tetherd's extra flags and the repair; Want are
// substrings of the one-line cause.
type StartupFault struct {
	Name   string
	Root   bool // needs root (a mount, a node, another user)
	AsUser bool // run tetherd as nobody, without any group
	Setup  func(t *testing.T, dir string) (args []string, fix func())
	Want   []string
}

// StartupFaults are the cases: a corrupt config file, another
// program's file (JSON or not), unknown keys, a camera node the user may
// not open (not in the video group), a read-only data partition.
func StartupFaults() []StartupFault {
	conf := func(body, fixed string, want ...string) func(t *testing.T, dir string) ([]string, func()) {
		return func(t *testing.T, dir string) ([]string, func()) {
			p := filepath.Join(dir, "tetherd.json")
			writeFile(t, p, body, 0o644)
			return []string{"-config", p}, func() { writeFile(t, p, fixed, 0o644) }
		}
	}
	return []StartupFault{
		{Name: "corrupt-json", Setup: conf("{\"hub\": \"https://hub.example\",\n  \"fps\": 10,\n}\n", `{"fps": 10}`),
			Want: []string{"tetherd.json", "not valid JSON at line 3, column 2"}},
		{Name: "truncated-json", Setup: conf(`{"hub": "https://hub.example", `, `{}`),
			Want: []string{"tetherd.json", "not valid JSON", "unexpected end of JSON input"}},
		{Name: "foreign-json", Setup: conf(`{"server": {"port": 80}, "database": "/var/lib/app.db"}`, `{}`),
			Want: []string{"tetherd.json", `holds no tetherd setting (keys `, "database", "server", "another program's config?"}},
		{Name: "foreign-format", Setup: conf("[Unit]\nDescription=not ours\n", `{}`),
			Want: []string{"tetherd.json", "not valid JSON at line 1"}},
		{Name: "json-array", Setup: conf(`["hub", "https://hub.example"]`, `{}`),
			Want: []string{"tetherd.json", "not a JSON object of tetherd settings but a JSON array"}},
		{Name: "unknown-keys", Setup: conf(`{"fps": 10, "colour": "red", "fsp": 12}`, `{"fps": 10}`),
			Want: []string{"tetherd.json", `unknown settings `, "colour", "fsp"}},
		{Name: "camera-group", Root: true, AsUser: true, Setup: func(t *testing.T, dir string) ([]string, func()) {
			// A character node (/dev/null's numbers) as the camera,
			// root:video 0660 as udev makes /dev/video0, and tetherd as
			// a user outside the group.
			node := filepath.Join(dir, "video0")
			if err := syscall.Mknod(node, syscall.S_IFCHR|0o660, 1<<8|3); err != nil {
				t.Skipf("mknod: %v", err)
			}
			gid := 44
			if g, err := user.LookupGroup("video"); err == nil {
				gid, _ = strconv.Atoi(g.Gid)
			}
			if err := os.Chown(node, 0, gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(node, 0o660); err != nil {
				t.Fatal(err)
			}
			return []string{"-camera", node}, func() { _ = os.Chmod(node, 0o666) }
		}, Want: []string{"permission denied on camera", "video0 (group ", "user nobody is not in the group"}},
		{Name: "read-only-data", Root: true, Setup: func(t *testing.T, dir string) ([]string, func()) {
			ro := filepath.Join(dir, "data")
			if err := os.Mkdir(ro, 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro).CombinedOutput(); err != nil {
				t.Skipf("mount a read-only tmpfs: %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", ro).Run() })
			return []string{"-data", filepath.Join(ro, "tetherd.db")}, func() {
				if out, err := exec.Command("mount", "-o", "remount,rw", ro).CombinedOutput(); err != nil {
					t.Errorf("remount rw: %v %s", err, out)
				}
			}
		}, Want: []string{"state file", "data/tetherd.db cannot be written (read-only file system)"}},
	}
}

func writeFile(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// CheckStartupFaults runs the real tetherd at bin on the sim board against
// each StartupFault and checks what a technician and the init system see:
// one error line naming the cause on stderr (the journal), READY=1 and
// STATUS=fault (…) over sd_notify, the serial console's status line with
// the cause and the LEDs' fault look (link off, status on), and a process
// that stays up (SIGHUP re-checks and says the fault persists). Once the
// cause is repaired, SIGHUP makes it exit with status 3, the clean restart
// the init system answers.
func CheckStartupFaults(t *testing.T, bin string) {
	for _, fc := range StartupFaults() {
		t.Run(fc.Name, func(t *testing.T) {
			if fc.Root && os.Geteuid() != 0 {
				t.Skip("needs root")
			}
			checkStartupFault(t, bin, fc)
		})
	}
}

func checkStartupFault(t *testing.T, bin string, fc StartupFault) {
	dir, err := os.MkdirTemp("", "tether-fault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args, fix := fc.Setup(t, dir)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	os.Chmod(filepath.Join(dir, "notify"), 0o777)

	args = append([]string{"-board", "sim", "-data", filepath.Join(dir, "tetherd.db"), "-setup-addr", "",
		"-metrics-addr", "", "-console", "-", "-width", "320", "-height", "180"}, args...)
	if fc.AsUser {
		// The test's own temporary directories are root's alone.
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "tetherd")
		writeFile(t, bin, string(b), 0o755)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TETHER_CONFIG=/dev/null", "NOTIFY_SOCKET="+filepath.Join(dir, "notify"))
	if fc.AsUser {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	}
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe() // the console's commands; closed by Wait
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once exitErr is set
	var exitErr error
	log, con := readAll(stderr), readAll(stdout)
	go func() {
		log.wg.Wait()
		con.wg.Wait()
		exitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("tetherd log:\n%s\nconsole:\n%s", log.text(), con.text())
		}
	}()
	const within = 60 * time.Second

	// The log: one line naming the cause.
	line := log.wait(t, within, append([]string{`level=ERROR msg="fault: `}, fc.Want...)...)
	if n := log.count(`msg="fault: `); n != 1 {
		t.Errorf("%d fault lines in the log, want one", n)
	}
	t.Logf("log: %s", line)

	// sd_notify: READY (the unit is up, not flapping) and the cause.
	var ready bool
	var status string
	_ = notify.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for !ready || !strings.HasPrefix(status, "fault (") {
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("sd_notify: READY=%v STATUS=%q, then %v", ready, status, err)
		}
		msg := string(buf[:n])
		ready = ready || msg == "READY=1"
		if s, ok := strings.CutPrefix(msg, "STATUS="); ok {
			status = s
		}
	}
	for _, w := range fc.Want {
		if !strings.Contains(status, w) {
			t.Errorf("sd_notify STATUS=%q does not name %q", status, w)
		}
	}

	// The serial console: the state with its cause, and the LEDs' fault
	// look (link off, status solid; docs/leds.md). The line printed at
	// the change may have raced the LEDs; the console's status command
	// prints it again, as a technician would ask.
	cl := con.waitPoke(t, within, func() { _, _ = io.WriteString(stdin, "status\n") },
		append([]string{"fault (", "LED link ○ status ●"}, fc.Want...)...)
	t.Logf("console: %s", cl)

	// Still running: SIGHUP re-checks and the fault persists.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("tetherd gone while at fault: %v", err)
	}
	log.wait(t, within, "SIGHUP: fault persists")
	select {
	case <-exited:
		t.Fatalf("tetherd exited while at fault: %v", exitErr)
	default:
	}

	// Repaired: the next re-check asks for the clean restart (status 3).
	fix()
	_ = cmd.Process.Signal(syscall.SIGHUP)
	log.wait(t, within, "fault fixed")
	select {
	case <-exited:
		var ee *exec.ExitError
		if !errors.As(exitErr, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("after the repair tetherd ended with %v, want exit status 3", exitErr)
		}
	case <-time.After(within):
		t.Fatal("tetherd did not restart after the repair")
	}
}

// lineLog keeps a pipe's lines and lets a test wait for one.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	wg    sync.WaitGroup
}

func readAll(r io.Reader) *lineLog {
	l := &lineLog{}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			if len(l.lines) < 100000 {
				l.lines = append(l.lines, strings.TrimRight(sc.Text(), "\r"))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *lineLog) wait(t *testing.T, within time.Duration, parts ...string) string {
	t.Helper()
	return l.waitPoke(t, within, nil, parts...)
}

// waitPoke waits as wait does, calling poke (when set) every 2 s.
func (l *lineLog) waitPoke(t *testing.T, within time.Duration, poke func(), parts ...string) string {
	t.Helper()
	next := time.Now().Add(2 * time.Second)
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if poke != nil && time.Now().After(next) {
			poke()
			next = time.Now().Add(2 * time.Second)
		}
		l.mu.Lock()
		for _, s := range l.lines {
			if containsAll(s, parts) {
				l.mu.Unlock()
				return s
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q within %v", parts, within)
		}
	}
}

func (l *lineLog) count(part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, part) {
			n++
		}
	}
	return n
}

func (l *lineLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
