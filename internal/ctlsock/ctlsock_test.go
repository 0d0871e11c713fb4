package ctlsock

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func serve(t *testing.T, path string) (stop func()) {
	t.Helper()
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		b, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		v = map[string]any{"len": len(b), "close": r.Close}
		WriteJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain text\n") })
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, http.StatusConflict, errors.New("already there"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, mux, slog.New(slog.DiscardHandler)) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestRoundTripAndLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	stop := serve(t, path)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second daemon on a live socket: %v", err)
	}
	c, err := Dial(path, "test")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Len   int  `json:"len"`
		Close bool `json:"close"`
	}
	if err := c.Do(http.MethodPost, "/echo", map[string]string{"a": "b"}, &r); err != nil || r.Len != len(`{"a":"b"}`) {
		t.Fatalf("echo %+v %v", r, err)
	}
	if !r.Close {
		t.Error("the client kept the connection for more requests")
	}
	if s, err := c.Text(http.MethodGet, "/text", nil); err != nil || s != "plain text\n" {
		t.Fatalf("text %q %v", s, err)
	}
	if err := c.Do(http.MethodGet, "/fail", nil, nil); err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "already there") {
		t.Fatalf("error answer: %v", err)
	}
	// A body above the limit is refused, not read.
	big := map[string]string{"x": strings.Repeat("y", MaxRequestBody)}
	if err := c.Do(http.MethodPost, "/echo", big, &r); err == nil || !strings.Contains(err.Error(), "413") {
		t.Fatalf("oversized request: %v", err)
	}
	// One request per connection: the server closes after answering.
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /text HTTP/1.1\r\nHost: x\r\n\r\nGET /text HTTP/1.1\r\nHost: x\r\n\r\n")
	all, err := io.ReadAll(conn)
	if err != nil || strings.Count(string(all), "HTTP/1.1 200") != 1 {
		t.Fatalf("a connection served %d requests (%v):\n%s", strings.Count(string(all), "HTTP/1.1 200"), err, all)
	}
	stop()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
	if _, err := Dial(path, "test"); err == nil {
		t.Fatal("dialled a stopped daemon")
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	// A daemon that died leaves its socket file: nobody answers on it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	serve(t, path)
	c, err := Dial(path, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Text(http.MethodGet, "/text", nil); err != nil {
		t.Fatal(err)
	}
}

// TestOtherUserRefused: even where the socket's mode lets another user
// connect, the daemon refuses anyone but root and its own user (the
// peer's uid from SO_PEERCRED). It runs a client as nobody, so it needs
// root.
func TestOtherUserRefused(t *testing.T) {
	if p := os.Getenv("CTLSOCK_TEST_DIAL"); p != "" {
		// The child, running as nobody.
		c, err := Dial(p, "child")
		if err == nil {
			_, err = c.Text(http.MethodGet, "/text", nil)
		}
		if err == nil {
			os.Exit(3)
		}
		return
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "d.sock")
	serve(t, path)
	if err := os.Chmod(path, 0o666); err != nil { // the mode no longer protects
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "child")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(uid uint32) error {
		cmd := exec.Command(bin, "-test.run", "^TestOtherUserRefused$")
		cmd.Env = append(os.Environ(), "CTLSOCK_TEST_DIAL="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		t.Logf("client as uid %d: %v %s", uid, err, out)
		return err
	}
	if err := run(65534); err != nil {
		t.Fatalf("a client as nobody was served or failed to run: %v", err)
	}
	// Contrast: the same child as root is served (exit 3 by design).
	var ee *exec.ExitError
	if err := run(0); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("a client as root was not served: %v", err)
	}
}
