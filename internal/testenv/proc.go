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

// ProcCPU is utime+stime of pid in seconds (proc(5): fields 14 and 15 in
// clock ticks, 100 per second on Linux), 0 when it is gone.
func ProcCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name may hold spaces: fields count from after ")".
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

// CPURSS samples pid for d: its CPU in % of one core over d, and its RSS
// (MiB) every second.
func CPURSS(pid int, d time.Duration) (cpu float64, rss []float64) {
	c0, t0 := ProcCPU(pid), time.Now()
	for end := t0.Add(d); time.Now().Before(end); time.Sleep(time.Second) {
		rss = append(rss, ProcStatusMiB(pid, "VmRSS:"))
	}
	return 100 * (ProcCPU(pid) - c0) / time.Since(t0).Seconds(), rss
}
