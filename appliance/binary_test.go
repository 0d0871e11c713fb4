package appliance_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildTetherd builds the real binary once per test with the version
// stamped as the Makefile does.
func buildTetherd(t *testing.T, ver string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs tetherd")
	}
	bin := filepath.Join(t.TempDir(), "tetherd")
	cmd := exec.Command("go", "build", "-ldflags", "-X tether/internal/version.Version="+ver, "-o", bin, "tether/cmd/tetherd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tetherd: %v\n%s", err, out)
	}
	return bin
}

// lines collects a pipe's lines and lets the test wait for one.
type lines struct {
	mu  sync.Mutex
	all []string
	ch  chan struct{}
}

func readLines(t *testing.T, r io.Reader) *lines {
	l := &lines{ch: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			t.Logf("tetherd: %s", sc.Text())
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.mu.Unlock()
			select {
			case l.ch <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// wait returns the index after the first line from index from on that
// contains every part, within 15 s.
func (l *lines) wait(t *testing.T, from int, parts ...string) int {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		l.mu.Lock()
		for i := from; i < len(l.all); i++ {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l.all[i], p)
			}
			if ok {
				l.mu.Unlock()
				return i + 1
			}
		}
		l.mu.Unlock()
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("no line with %q", parts)
		}
	}
}

// TestTetherdVersionAndHelp: -version prints the stamped version; -h lists
// every flag with its type and default and exits 0.
func TestTetherdVersionAndHelp(t *testing.T) {
	bin := buildTetherd(t, "v9.9.9-test")
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "tetherd v9.9.9-test (go") {
		t.Fatalf("-version: %v %q", err, out)
	}
	out, err = exec.Command(bin, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{`-metrics-addr string`, `(default "127.0.0.1:9101")`, `-width int`, `-stuck-timeout duration`,
		`(default 10m0s)`, `(default "info")`, `(default ":8080")`, `-version`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-h lacks %q:\n%s", want, out)
		}
	}
}

// TestTetherdSIGHUP runs the real binary: SIGHUP re-reads the config file,
// applies the new log level at once, names the settings that wait for a
// restart, and the process lives on; SIGTERM then ends it with status 0.
// The console's restart command ends it with status 3 (the init system's
// cue) about 3 s later.
func TestTetherdSIGHUP(t *testing.T) {
	bin := buildTetherd(t, "dev")
	dir := t.TempDir()
	conf := filepath.Join(dir, "tetherd.json")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"log-level": "info", "fps": 10}`)
	start := func(withStdin bool) (*exec.Cmd, *lines, io.Writer) {
		cmd := exec.Command(bin, "-data", filepath.Join(dir, "tetherd.db"), "-board", "sim", "-setup-addr", "", "-metrics-addr", "",
			"-width", "320", "-height", "180", "-console", "-")
		cmd.Env = append(os.Environ(), "TETHER_CONFIG="+conf)
		var stdin io.Writer
		if withStdin {
			stdin, _ = cmd.StdinPipe() // closed by Wait
		}
		stderr, _ := cmd.StderrPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		l := readLines(t, stderr)
		readLines(t, stdout) // the console, logged
		return cmd, l, stdin
	}

	cmd, l, _ := start(false)
	at := l.wait(t, 0, "login needed")
	write(`{"log-level": "debug", "fps": 20}`)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	at = l.wait(t, at, "SIGHUP: configuration re-read", "applied=[log-level]", "level=DEBUG")
	l.wait(t, at, "SIGHUP: changed settings apply at the next restart", "settings=[fps]")
	// Still running; the level stays, nothing new to apply.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("the process is gone after SIGHUP: %v", err)
	}
	at = l.wait(t, at, "SIGHUP: configuration re-read", "applied=[]", "level=DEBUG")
	// A file that does not parse changes nothing.
	write(`{"log-level": "loud"}`)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	l.wait(t, at, "configuration not reloaded", "log-level")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	// The console's restart: exit status 3, not before 3 s.
	write(`{}`)
	cmd, l, stdin := start(true)
	l.wait(t, 0, "login needed")
	began := time.Now()
	if _, err := io.WriteString(stdin, "restart\n"); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want status 3", err)
	}
	if d := time.Since(began); d < 3*time.Second {
		t.Fatalf("exited %v after restart, before the 3 s the seed waits", d)
	}
}
