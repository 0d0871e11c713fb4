package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// spaces is what Pair and Routed share: the test that owns the namespaces
// and their names, for running commands inside them and removing them.
type spaces struct {
	t   testing.TB
	all []string // namespace names, removed at cleanup
}

// build runs the `ip` steps that make the namespaces, failing t on the
// first error. The namespaces are removed at cleanup even if a step fails.
func (s *spaces) build(steps [][]string) {
	s.t.Helper()
	s.t.Cleanup(s.remove)
	for _, st := range steps {
		if out, err := run("ip", st...); err != nil {
			s.t.Fatalf("netns: ip %s: %v: %s", strings.Join(st, " "), err, out)
		}
	}
}

func (s *spaces) remove() {
	for _, ns := range s.all {
		_, _ = run("ip", "netns", "del", ns)
	}
}

// Command returns a command that runs inside namespace ns.
func (s *spaces) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Run runs a command inside ns and fails the test on error.
func (s *spaces) Run(ns string, name string, args ...string) {
	s.t.Helper()
	out, err := run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if err != nil {
		s.t.Fatalf("netns %s: %s %s: %v: %s", ns, name, strings.Join(args, " "), err, out)
	}
}

// drop inserts an iptables DROP rule for matching packets in ns's chain;
// the returned func removes it (once; later calls do nothing).
func (s *spaces) drop(ns, chain string, match []string) (undo func()) {
	s.t.Helper()
	rule := append(append([]string{chain}, match...), "-j", "DROP")
	s.Run(ns, iptables(), append([]string{"-I"}, rule...)...)
	var once sync.Once
	return func() {
		once.Do(func() {
			if out, err := run("ip", append([]string{"netns", "exec", ns, iptables(), "-D"}, rule...)...); err != nil {
				s.t.Errorf("netns %s: removing %s: %v: %s", ns, strings.Join(rule, " "), err, out)
			}
		})
	}
}

// Wrapper writes an executable script into dir that runs bin inside
// namespace ns with its arguments, for launchers that take only a program
// path (chromedp's ExecPath). Pipes and other inherited descriptors pass
// through `ip netns exec`.
func Wrapper(dir, ns, bin string) (string, error) {
	path := filepath.Join(dir, filepath.Base(bin)+"-in-"+ns)
	script := "#!/bin/sh\nexec ip netns exec " + ns + " " + bin + " \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("netns: wrapper for %s: %w", bin, err)
	}
	return path, nil
}
