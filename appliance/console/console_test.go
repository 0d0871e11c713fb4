package console

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/appliance/health"
	"tether/media"
	"tether/signaling/socketio"
	"tether/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lineWriter hands every written line to the test.
type lineWriter struct {
	ch     chan string
	failed chan string // lines refused while fail is set
	mu     sync.Mutex
	fail   error
}

func newLineWriter() *lineWriter {
	return &lineWriter{ch: make(chan string, 256), failed: make(chan string, 256)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	fail := w.fail
	w.mu.Unlock()
	if fail != nil {
		w.failed <- string(p)
		return 0, fail
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(p), "\r\n"), "\r\n") {
		w.ch <- l
	}
	return len(p), nil
}

func (w *lineWriter) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-w.ch:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no console line within 5 s")
		return ""
	}
}

// expect reads lines until one contains want; it fails on the first line
// that does not, so it also proves nothing else came first.
func (w *lineWriter) expect(t *testing.T, want string) string {
	t.Helper()
	l := w.next(t)
	if !strings.Contains(l, want) {
		t.Fatalf("console line %q, want it to contain %q", l, want)
	}
	return l
}

type fixture struct {
	clk     *clockwork.FakeClock
	tr      *health.Tracker
	out     *lineWriter
	in      *io.PipeWriter
	st      *store.Store
	con     *Console
	restart chan string
	cancel  context.CancelFunc
	done    chan error
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC))
	tr, err := health.New(health.Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	r := &fixture{clk: clk, tr: tr, out: newLineWriter(), in: pw, st: store.NewMem(store.Options{Clock: clk}),
		restart: make(chan string, 1), done: make(chan error, 1)}
	cfg := Config{
		Health: tr, Out: r.out, In: pr, Events: r.st, Clock: clk,
		Net: func() ([]Interface, error) {
			return []Interface{{Name: "lo", Up: true, Addrs: []string{"127.0.0.1/8"}},
				{Name: "eth0", Up: false, MAC: "b8:27:eb:00:00:01"}}, nil
		},
		Restart: func(reason string) { r.restart <- reason },
	}
	if mod != nil {
		mod(&cfg)
	}
	r.con, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.con.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *fixture) stop() {
	r.cancel()
	<-r.done
}

func (r *fixture) type_(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func TestStatusLines(t *testing.T) {
	r := newFixture(t, nil)
	first := r.out.expect(t, "booting (starting)")
	if !strings.HasPrefix(first, "[01:02:03] ") {
		t.Fatalf("line %q lacks the UTC time prefix", first)
	}

	// A change prints at once.
	r.clk.Advance(5 * time.Second)
	r.tr.ReportSocket(health.SocketStatus{State: socketio.Connecting, Attempt: 2, LastError: "dial tcp: refused"})
	r.out.expect(t, "socket connecting attempt 2")

	// 29 s later nothing is due: the next line is the help answer.
	r.clk.Advance(29 * time.Second)
	r.type_(t, "help")
	r.out.expect(t, "commands:")
	for range helpLines[1:] {
		r.out.next(t)
	}
	// At 30 s after the last status line the periodic line comes, with
	// uptime measured now.
	r.clk.Advance(time.Second)
	l := r.out.expect(t, "booting (starting) | socket connecting attempt 2")
	if !strings.Contains(l, "up 35s") || !strings.Contains(l, "last error: dial tcp: refused") {
		t.Fatalf("periodic line %q: want uptime 35s and the last error", l)
	}
	r.clk.Advance(30 * time.Second)
	r.out.expect(t, "up 1m5s")
}

func TestCommands(t *testing.T) {
	r := newFixture(t, nil)
	r.out.expect(t, "booting")
	for _, e := range []store.Event{
		{Component: "socket", From: "connecting", To: "connected", Detail: "websocket"},
		{Component: "peer", To: "waiting"},
		{Component: "setup", Detail: "line1\nline2"},
	} {
		if err := r.st.AppendEvent(e); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"status", "status", []string{"booting (starting) | socket disconnected", "state booting since 2026-11-26T01:02:03Z: starting", "network unknown"}},
		{"status is case-insensitive", "  STATUS  ", []string{"booting", "state booting", "network"}},
		{"log default", "log", []string{"#1 2026-11-26T01:02:03Z socket connecting -> connected (websocket)", "#2 2026-11-26T01:02:03Z peer waiting", "#3 2026-11-26T01:02:03Z setup (line1?line2)"}},
		{"log N", "log 1", []string{"#3 "}},
		{"log bad count", "log many", []string{"error: log takes a count from 1 to 500"}},
		{"log zero", "log 0", []string{"error: log takes a count"}},
		{"net", "net", []string{"lo up 127.0.0.1/8", "eth0 down b8:27:eb:00:00:01 (no address)"}},
		{"unknown", "reboot now", []string{`error: unknown command "reboot" (type help)`}},
		{"unknown control chars", "\x1b[2Jx", []string{`error: unknown command "?[2Jx" (type help)`}},
		{"too long", strings.Repeat("a", 600), []string{"error: command longer than 256 bytes ignored"}},
		{"help", "help", helpLines},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.type_(t, "") // empty lines are ignored...
			r.type_(t, tc.input)
			for _, w := range tc.want {
				r.out.expect(t, w)
			}
			// ...and nothing else was written: the next answer is ours.
			r.type_(t, "log 0")
			r.out.expect(t, "error: log takes")
		})
	}

	t.Run("restart", func(t *testing.T) {
		r.type_(t, "restart")
		r.out.expect(t, "restarting on request from the console")
		select {
		case reason := <-r.restart:
			if reason != "console" {
				t.Fatalf("restart reason %q", reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("restart callback not called")
		}
	})
}

// TestSpeakerOnConsole (issue 15): a failed speaker changes the status
// line at once (its state and name), and `status` lists it among the media
// devices.
func TestSpeakerOnConsole(t *testing.T) {
	r := newFixture(t, nil)
	r.out.expect(t, "booting")
	r.tr.SetBooting(false)
	r.out.expect(t, "hub-unreachable")
	r.tr.ReportMedia(health.FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK, Encoder: media.EncoderSoftware}.
		WithPlayer(media.PlayerStatus{Speaker: media.SourceMissing, SpeakerError: "no playback card"})))
	l := r.out.expect(t, "no-speaker (speaker missing: no playback card)")
	if !strings.Contains(l, "| speaker missing |") {
		t.Fatalf("line %q does not name the speaker", l)
	}
	r.type_(t, "status")
	r.out.expect(t, "no-speaker")
	r.out.expect(t, "state no-speaker since")
	r.out.expect(t, "media camera ok mic ok speaker missing encoder software")
}

func TestMissingOptionalParts(t *testing.T) {
	r := newFixture(t, func(c *Config) {
		c.Events, c.Restart = nil, nil
		c.Net = func() ([]Interface, error) { return nil, errors.New("netlink: permission denied") }
	})
	r.out.expect(t, "booting")
	for _, tc := range []struct{ in, want string }{
		{"log", "error: no event log"},
		{"restart", "error: restart is not available"},
		{"net", "error: netlink: permission denied"},
	} {
		r.type_(t, tc.in)
		r.out.expect(t, tc.want)
	}
}

func TestAnnounceAndLEDs(t *testing.T) {
	leds := "LED link ● status ○"
	r := newFixture(t, func(c *Config) { c.LEDs = func() string { return leds } })
	l := r.out.expect(t, "booting")
	if !strings.HasSuffix(l, " | "+leds) {
		t.Fatalf("status line %q lacks the LEDs", l)
	}
	r.con.PasswordReset()
	r.out.expect(t, PasswordResetLine)
	r.con.Announce("two\nlines")
	r.out.expect(t, "] two?lines")
}

func TestAnnounceBeforeRun(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	tr, _ := health.New(health.Config{Clock: clk})
	out := newLineWriter()
	c, err := New(Config{Health: tr, Out: out, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	c.PasswordReset()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	got := []string{out.next(t), out.next(t)}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, PasswordResetLine) || !strings.Contains(joined, "booting") {
		t.Fatalf("lines %q: want the status line and the queued announcement", got)
	}
}

func TestWriteErrorsAreSurvived(t *testing.T) {
	r := newFixture(t, nil)
	r.out.expect(t, "booting")
	r.out.mu.Lock()
	r.out.fail = errors.New("EIO")
	r.out.mu.Unlock()
	r.type_(t, "status") // three lines, refused by the writer
	for range 3 {
		<-r.out.failed
	}
	r.out.mu.Lock()
	r.out.fail = nil
	r.out.mu.Unlock()
	r.type_(t, "log 0")
	r.out.expect(t, "error: log takes")
}

// TestRunEndsWithBlockedReader: Run returns when ctx ends although its reader
// is blocked in Read, for both ways of unblocking it.
func TestRunEndsWithBlockedReader(t *testing.T) {
	osr, osw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer osr.Close()
	defer osw.Close()
	ior, iow := io.Pipe()
	defer iow.Close()
	for _, tc := range []struct {
		name string
		in   io.Reader
	}{
		{"os.Pipe (read deadline)", osr},
		{"io.Pipe (close)", ior},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
			tr, _ := health.New(health.Config{Clock: clk})
			out := newLineWriter()
			c, err := New(Config{Health: tr, Out: out, In: tc.in, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			out.expect(t, "booting")
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return with its reader blocked")
			}
		})
	}
}

func TestRunEndsOnInputEOF(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	tr, _ := health.New(health.Config{Clock: clk})
	out := newLineWriter()
	c, _ := New(Config{Health: tr, Out: out, In: strings.NewReader("help\nbogus\n"), Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	out.expect(t, "booting")
	out.expect(t, "commands:")
	for range helpLines[1:] {
		out.next(t)
	}
	out.expect(t, `unknown command "bogus"`)
	// EOF on the input does not stop the status lines.
	tr.SetFault("camera on fire")
	out.expect(t, "fault (camera on fire)")
	cancel()
	<-done
}

func TestNewValidates(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	tr, _ := health.New(health.Config{Clock: clk})
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"no health", Config{Out: io.Discard}, ErrNoHealth},
		{"no out", Config{Health: tr}, ErrNoOutput},
		{"negative interval", Config{Health: tr, Out: io.Discard, Interval: -time.Second}, ErrBadInterval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, tc.want) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSystemInterfaces(t *testing.T) {
	ifs, err := SystemInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name == "" {
			t.Fatalf("interface without a name: %+v", i)
		}
	}
}

func TestFormatEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		e    store.Event
		want string
	}{
		{store.Event{Seq: 1, Time: at, Component: "peer", From: "a", To: "b", Detail: "d"}, "#1 2026-01-02T03:04:05Z peer a -> b (d)"},
		{store.Event{Seq: 2, Time: at, Component: "peer", From: "a"}, "#2 2026-01-02T03:04:05Z peer a ->"},
		{store.Event{Seq: 3, Time: at, Component: "x"}, "#3 2026-01-02T03:04:05Z x"},
	} {
		if got := FormatEvent(tc.e); got != tc.want {
			t.Errorf("FormatEvent = %q, want %q", got, tc.want)
		}
	}
}

func BenchmarkStatusLine(b *testing.B) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	tr, _ := health.New(health.Config{Clock: clk})
	c, _ := New(Config{Health: tr, Out: io.Discard, Clock: clk, LEDs: func() string { return "LED link ● status ○" }})
	s := tr.Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		c.writeLine(c.statusLine(s))
	}
}

type fuzzConsole struct {
	c   *Console
	out *strings.Builder
}

func newFuzzConsole() fuzzConsole {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	tr, _ := health.New(health.Config{Clock: clk})
	st := store.NewMem(store.Options{Clock: clk})
	_ = st.AppendEvent(store.Event{Component: "socket", To: "connected", Detail: "\x1b[31mred\x1b[0m"})
	out := &strings.Builder{}
	c, _ := New(Config{Health: tr, Out: out, Clock: clk, Events: st,
		Net:     func() ([]Interface, error) { return []Interface{{Name: "eth\n0", Addrs: []string{"\x1b"}}}, nil },
		Restart: func(string) {}})
	return fuzzConsole{c: c, out: out}
}
