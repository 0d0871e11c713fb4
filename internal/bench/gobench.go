package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// goBench runs one of the repository's existing benchmarks (`go test -run
// '^$' -bench NAME -benchtime Nx PKG`) and returns the metrics of its
// result lines by unit ("chromium_restart_ms" → value; sub-benchmarks as
// "Sub/unit"). The baselines that live in test files (the seed's admin
// page in Chromium, issue 12's attacks) are measured there, in one place,
// and tether-bench reads their figures.
func goBench(ctx context.Context, root, pkg, name string, n int, timeout time.Duration) (map[string]float64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", name, "-benchtime", fmt.Sprintf("%dx", n),
		"-timeout", timeout.String(), pkg)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	m := parseBench(string(out))
	if err != nil {
		return m, string(out), fmt.Errorf("go test -bench %s %s: %w", name, pkg, err)
	}
	return m, string(out), nil
}

// parseBench reads the metrics of `go test -bench` result lines.
func parseBench(out string) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		sub := ""
		if i := strings.Index(f[0], "/"); i >= 0 {
			sub = strings.TrimRight(f[0][i+1:], "-0123456789") + "/"
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[sub+f[i+1]] = v
			}
		}
	}
	return m
}
