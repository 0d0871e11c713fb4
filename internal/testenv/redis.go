package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server (Debian's package) started by a test, listening
// on a unix socket in its own temporary directory and, when asked, on a
// loopback TCP port. It is killed when the test ends.
type Redis struct {
	t    testing.TB
	bin  string
	dir  string
	opts RedisOptions
	cmd  *exec.Cmd
	done chan struct{}
	// Port is the loopback TCP port (0: unix socket only).
	Port int
}

// RedisOptions choose how the server runs.
type RedisOptions struct {
	// Persist turns on the append-only file (fsync on every write, so a kill loses nothing) in the
	// server's directory, so a restart keeps the data.
	Persist bool
	// TCP also listens on a free loopback port (Node clients, HAProxy).
	TCP bool
}

// RequireRedis returns redis-server's path; it skips t when it is not
// installed, except under CI (CI=true), where .ci/run installs it and a
// skip would hide a missing install.
func RequireRedis(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed under CI (.ci/run installs the redis-server package)")
		}
		t.Skip("redis-server not installed (apt-get install redis-server; CI installs it): skipping the Redis backend's tests")
	}
	return p
}

// StartRedis starts a redis-server for t and waits until it answers.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin := RequireRedis(t)
	// A short path: a unix socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{t: t, bin: bin, dir: dir, opts: opts}
	if opts.TCP {
		r.Port = FreePort(t)
	}
	t.Cleanup(func() {
		r.Kill()
		os.RemoveAll(dir)
	})
	r.start()
	return r
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Socket is the unix socket's path.
func (r *Redis) Socket() string { return filepath.Join(r.dir, "redis.sock") }

// URL is the server's URL for go-redis (unix socket).
func (r *Redis) URL() string { return "unix://" + r.Socket() }

// TCPURL is the loopback TCP URL ("" without RedisOptions.TCP).
func (r *Redis) TCPURL() string {
	if r.Port == 0 {
		return ""
	}
	return "redis://127.0.0.1:" + strconv.Itoa(r.Port)
}

// Dir is the server's working directory (its append-only file).
func (r *Redis) Dir() string { return r.dir }

func (r *Redis) start() {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--unixsocket", r.Socket(),
		"--unixsocketperm", "700", "--dir", r.dir, "--save", "", "--protected-mode", "no", "--daemonize", "no",
		"--loglevel", "warning", "--maxclients", "1000"}
	if r.opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	r.cmd = exec.Command(r.bin, args...)
	log, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cmd.Stdout, r.cmd.Stderr = log, log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		log.Close()
		r.t.Fatalf("redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); log.Close(); close(r.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("unix", r.Socket(), time.Second); err == nil {
			ok := ping(c)
			c.Close()
			if ok {
				return
			}
		}
		select {
		case <-r.done:
			out, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("redis-server exited at start: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not answer within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends PING and reads +PONG (a server still loading its file
// answers -LOADING).
func ping(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 64)
	n, _ := c.Read(b)
	return strings.HasPrefix(string(b[:n]), "+PONG")
}

// Kill kills the server at once (SIGKILL: no final save) and waits for it.
func (r *Redis) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// Restart kills the server and starts it again on the same socket, port
// and directory (with Persist, on the same append-only file).
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}

// Pid is the server's process id.
func (r *Redis) Pid() int { return r.cmd.Process.Pid }

func (r *Redis) String() string { return fmt.Sprintf("redis-server %s", r.URL()) }
