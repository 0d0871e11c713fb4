package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// GoBuild builds the package pkg ("./cmd/tether-hub") of the module in
// tree into out: benchmarks build the binary under test, and an older
// checkout's for a before/after ratio.
func GoBuild(tb testing.TB, tree, pkg, out string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = tree
	if o, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s in %s: %v\n%s", pkg, tree, err, o)
	}
}

// ProcStatusMiB reads one kB field of /proc/<pid>/status ("VmRSS:",
// "VmHWM:"; proc(5)) in MiB, 0 when the process or the field is gone.
func ProcStatusMiB(pid int, field string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
