package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// The shared environment (board/netns, internal/testenv, the official
// client's harness) is written for tests: it takes a testing.TB, fails
// with Fatal and cleans up with Cleanup. tb is that interface for a
// program, so tether-bench calls the same code once instead of a copy.

// failure is the panic value of tb.Fatal and tb.Skip; step recovers it.
type failure struct {
	msg  string
	skip bool
}

func (f failure) Error() string { return f.msg }

// errSkipped marks a step whose tool is missing here (no node, no Chromium).
var errSkipped = errors.New("skipped")

// tb implements testing.TB for tether-bench. The embedded interface is nil:
// it only supplies testing.TB's unexported method; every method the shared
// code calls is defined below.
type tb struct {
	testing.TB
	ctx   context.Context
	out   io.Writer
	start time.Time

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	closed   bool
	verbose  bool
}

func newTB(ctx context.Context, out io.Writer, verbose bool) *tb {
	// testing.Short and testing.Verbose, which the shared code consults,
	// panic before testing.Init; Init registers its flags on
	// flag.CommandLine, which tether-bench parses empty (its own flags
	// are a FlagSet), so they keep their defaults (not short, not verbose).
	testing.Init()
	if !flag.Parsed() {
		_ = flag.CommandLine.Parse(nil)
	}
	return &tb{ctx: ctx, out: out, start: time.Now(), verbose: verbose}
}

func (t *tb) Helper()                  {}
func (t *tb) Name() string             { return "tether-bench" }
func (t *tb) Context() context.Context { return t.ctx }

func (t *tb) Log(args ...any) {
	if t.verbose {
		t.printf("%s", fmt.Sprintln(args...))
	}
}

func (t *tb) Logf(format string, args ...any) {
	if t.verbose {
		t.printf(format+"\n", args...)
	}
}

// Printf always prints, with the time since the start.
func (t *tb) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "[%7.2fs] "+format, append([]any{time.Since(t.start).Seconds()}, args...)...)
}

func (t *tb) Error(args ...any) { t.printf("error: %s", fmt.Sprintln(args...)); t.Fail() }
func (t *tb) Errorf(format string, args ...any) {
	t.printf("error: "+format+"\n", args...)
	t.Fail()
}

func (t *tb) Fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}

func (t *tb) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *tb) FailNow()                  { t.Fail(); panic(failure{msg: "failed"}) }
func (t *tb) Fatal(args ...any)         { t.Fail(); panic(failure{msg: fmt.Sprint(args...)}) }
func (t *tb) Fatalf(f string, a ...any) { t.Fail(); panic(failure{msg: fmt.Sprintf(f, a...)}) }
func (t *tb) Skip(args ...any)          { panic(failure{msg: fmt.Sprint(args...), skip: true}) }
func (t *tb) Skipf(f string, a ...any)  { panic(failure{msg: fmt.Sprintf(f, a...), skip: true}) }
func (t *tb) SkipNow()                  { panic(failure{msg: "skipped", skip: true}) }
func (t *tb) Skipped() bool             { return false }
func (t *tb) Setenv(k, v string)        { _ = os.Setenv(k, v) }

// TempDir is a fresh directory removed at cleanup.
func (t *tb) TempDir() string {
	d, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// Cleanup registers f to run at close, last registered first.
func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		// Registered while closing (Ctrl-C raced a start): run it now.
		go f()
		return
	}
	t.cleanups = append(t.cleanups, f)
}

// close runs every cleanup once, last first, each bounded so one stuck
// process cannot keep the namespaces alive. It is safe to call twice and
// from the signal handler while steps still run.
func (t *tb) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { _ = recover() }() // a cleanup that fails still lets the others run
			fs[i]()
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
		}
	}
}

// step runs fn and turns its Fatal or Skip (a panic with a failure) into
// an error; any other panic is re-raised.
func step(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			if f.skip {
				err = fmt.Errorf("%w: %s", errSkipped, f.msg)
				return
			}
			err = f
		}
	}()
	fn()
	return nil
}
