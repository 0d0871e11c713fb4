package rig

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestGuestSuites is the host side of the rig: it builds the kernel (or
// takes it from the cache), boots it under qemu and fails if any guest test
// binary fails. It runs only when TETHER_RIG names the arches, since a
// first run builds a kernel (about 6.5 minutes per arch on 2 cores):
//
//	TETHER_RIG=x86_64 go test -count=1 -timeout 60m -run TestGuestSuites -v ./board/rig
//	TETHER_RIG=x86_64,arm64 ...   both arches; TETHER_RIG=1 means x86_64
//
// TETHER_RIG_PKGS (space-separated patterns) narrows the guest packages
// (default: every package with a rig-tagged test) and TETHER_RIG_RUN is
// passed as -test.run.
func TestGuestSuites(t *testing.T) {
	env := os.Getenv("TETHER_RIG")
	if env == "" {
		t.Skip("set TETHER_RIG=x86_64 (or x86_64,arm64) to build the guest kernel and run the rig-tagged tests under qemu")
	}
	if env == "1" {
		env = "x86_64"
	}
	for _, name := range strings.Split(env, ",") {
		a, err := ParseArch(strings.TrimSpace(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(string(a), func(t *testing.T) { runGuestSuites(t, a) })
	}
}

func runGuestSuites(t *testing.T, a Arch) {
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}
	opt := Options{
		Arch:     a,
		Packages: strings.Fields(os.Getenv("TETHER_RIG_PKGS")),
		Run:      os.Getenv("TETHER_RIG_RUN"),
		Timeout:  15 * time.Minute,
		Console:  &lineLogger{t: t},
		Log:      slog.New(slog.NewTextHandler(&lineLogger{t: t}, nil)),
	}
	res, err := Run(ctx, opt)
	if res != nil {
		kernel := "cached"
		if res.KernelTime > 0 {
			kernel = res.KernelTime.Round(time.Second).String()
		}
		t.Logf("rig %s: kernel build %s, test build %s, initramfs %d MB, boot %s, guest tests %s",
			a, kernel, res.TestBuild.Round(100*time.Millisecond), res.InitramfsLen>>20,
			res.BootTime.Round(100*time.Millisecond), res.GuestTime.Round(100*time.Millisecond))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Packages {
		t.Run(p.Name, func(t *testing.T) {
			if !p.Passed() {
				t.Errorf("guest tests of %s exited %d:\n%s", p.ImportPath, p.Exit, p.Output)
			}
			for _, line := range strings.Split(p.Output, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "--- SKIP: ") {
					t.Logf("skipped in the guest: %s", strings.TrimSpace(line))
				}
			}
		})
	}
	if opt.Run == "" && len(opt.Packages) == 0 {
		// The driver checks in this package must all have run and passed.
		for _, name := range []string{"TestGuestVividCapture", "TestGuestVicodecEncoder", "TestGuestGPIOSim", "TestGuestSndAloop", "TestGuestNetem"} {
			if !strings.Contains(res.Console, fmt.Sprintf("--- PASS: %s ", name)) {
				t.Errorf("%s did not pass in the guest", name)
			}
		}
	}
}

// lineLogger sends each written line to t.Log.
type lineLogger struct {
	t   *testing.T
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
