package siotest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"tether/internal/testenv"
)

const (
	// readyTimeout bounds how long a node process may take to print its ready line.
	readyTimeout = 20 * time.Second
	// waitDelay bounds how long a killed process's pipes may stay open.
	waitDelay = 5 * time.Second
	// maxLine is the longest stdout line accepted from a node process
	// (binary payloads are printed base64 inside one line).
	maxLine = 64 << 20
)

var (
	setupOnce sync.Once
	setupNode string // path of the node binary, "" when missing
	setupDir  string // testdata/node
	setupSkip string // non-empty: the reason every test must skip
)

// nodeDir finds testdata/node beside this source file, falling back to the
// module root found from the working directory (for -trimpath builds).
func nodeDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), "testdata", "node")
		if _, err := os.Stat(filepath.Join(d, "package.json")); err == nil {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("siotest: getwd: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			nd := filepath.Join(d, "signaling", "internal", "siotest", "testdata", "node")
			if _, err := os.Stat(filepath.Join(nd, "package.json")); err == nil {
				return nd, nil
			}
			return "", fmt.Errorf("siotest: %s has no testdata/node", d)
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("siotest: no go.mod above %s", wd)
		}
	}
}

// modulesFresh reports whether node_modules holds both packages and was
// installed from package-lock.json as it is now.
func modulesFresh(dir string) bool {
	for _, p := range []string{"socket.io", "socket.io-client"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			return false
		}
	}
	return testenv.ModulesFresh(dir)
}

// setup runs once per test process: find node, and run `npm ci` under a
// cross-process file lock when node_modules is missing or stale, so that a
// bare `go test` works on a developer machine.
func setup() {
	node, err := exec.LookPath("node")
	if err != nil {
		setupSkip = "siotest: node not found in PATH (install Debian's nodejs and npm, then run `make npm`)"
		return
	}
	setupNode = node
	dir, err := nodeDir()
	if err != nil {
		setupSkip = err.Error()
		return
	}
	setupDir = dir
	if modulesFresh(dir) {
		return
	}
	if err := testenv.NPMInstall(dir); err != nil || !modulesFresh(dir) {
		// A stale install still serves when npm cannot run here.
		if _, serr := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); serr != nil {
			setupSkip = fmt.Sprintf("siotest: node_modules missing in %s (%v); run `make npm`", dir, err)
		}
	}
}

// requireNode skips t unless node and the npm packages are usable, and
// returns the node binary and the testdata/node directory.
func requireNode(t testing.TB) (node, dir string) {
	t.Helper()
	if testing.Short() {
		// -short is how the cross-architecture runs under qemu-user keep
		// to the ABI-sensitive unit tests; interop runs natively.
		t.Skip("siotest: -short: not starting node")
	}
	setupOnce.Do(setup)
	if setupSkip != "" {
		t.Skip(setupSkip)
	}
	return setupNode, setupDir
}

// lineLogger sends every complete line written to it to t.Log with a prefix.
// exec.Cmd's copying goroutine is its only writer; Cmd.Wait waits for it, so
// nothing is logged after the process has been waited for.
type lineLogger struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log(l.prefix + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
}

// proc is one running node process. onLine runs on the stdout reader
// goroutine for every stdout line; done is closed once the process has been
// waited for and both of its output streams are drained.
type proc struct {
	cmd     *exec.Cmd
	stdinMu sync.Mutex // guards stdin writes
	stdin   io.WriteCloser
	stderr  *lineLogger
	done    chan struct{}
	exitErr error // valid after done is closed
}

// startProc starts `node script arg` in dir. The process exits by itself
// when its stdin closes, so a crashed test cannot leave it behind.
func startProc(t testing.TB, node, dir, script, arg, prefix string, onLine func(line []byte)) (*proc, error) {
	return startProcIn(t, "", node, dir, script, arg, prefix, onLine)
}

// startProcIn is startProc inside network namespace netns when it is not
// empty (`ip netns exec` execs node itself, so signals reach it directly).
func startProcIn(t testing.TB, netns, node, dir, script, arg, prefix string, onLine func(line []byte)) (*proc, error) {
	cmd := exec.Command(node, script, arg)
	if netns != "" {
		cmd = exec.Command("ip", "netns", "exec", netns, node, script, arg)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	p := &proc{cmd: cmd, stderr: &lineLogger{t: t, prefix: prefix}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.WaitDelay = waitDelay
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("siotest: stdout pipe: %w", err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("siotest: stdin pipe: %w", err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("siotest: start %s: %w", script, err)
	}
	// The reader goroutine owns stdout; it drains to EOF before Wait, as
	// StdoutPipe requires, and is the only goroutine that calls onLine.
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		for sc.Scan() {
			onLine(sc.Bytes())
		}
		if err := sc.Err(); err != nil {
			t.Logf("%sstdout: %v", prefix, err)
			_, _ = io.Copy(io.Discard, stdout)
		}
		p.exitErr = cmd.Wait()
		p.stderr.flush()
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL and waits until the process and its pipes are gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done // bounded: SIGKILL cannot be ignored and WaitDelay bounds the pipes
	p.stdinMu.Lock()
	_ = p.stdin.Close()
	p.stdinMu.Unlock()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit code after done, or -1.
func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		return ee.ExitCode()
	}
	if p.exitErr == nil && p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.ExitCode()
	}
	return -1
}

// writeLine writes one line to the process's stdin.
func (p *proc) writeLine(b []byte) error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.exited() {
		return ErrExited
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("siotest: write stdin: %w", err)
	}
	return nil
}
