// Command tether-bench measures the seed's metrics on the real tetherd and
// tether-hub side by side with their baselines, runs the fault matrix and
// a soak of random faults (issue 16), and prints the tables as markdown
// and JSON. It needs root and runs inside the source tree:
//
//	sudo go run ./cmd/tether-bench -faults            # the full run
//	sudo go run ./cmd/tether-bench -short -faults -soak 5   # CI (make bench-short)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"tether/internal/bench"
)

func main() {
	fs := flag.NewFlagSet("tether-bench", flag.ExitOnError)
	var o bench.Options
	fs.BoolVar(&o.Short, "short", false, "CI mode: few repetitions, short cuts, a subset of the faults, no go-test baselines")
	fs.BoolVar(&o.Faults, "faults", false, "run the fault matrix")
	fs.IntVar(&o.Soak, "soak", 0, "random faults in a row after the rest (0: no soak)")
	fs.IntVar(&o.Reps, "n", 0, "repetitions per metric (default 3 with -short, else 10)")
	baselines := fs.Bool("baselines", true, "also run the repository benchmarks holding baselines in test code (go test -bench; not with -short)")
	fs.BoolVar(&o.Verbose, "v", false, "log the shared test environment's lines too, and keep tetherd's and the hub's logs in the temp dir")
	fs.DurationVar(&o.Timeout, "timeout", 0, "bound the whole run (default 15m with -short, 3h otherwise)")
	fs.StringVar(&o.Only, "only", "", "with -faults: only the faults whose name contains one of these comma-separated words")
	fs.BoolVar(&o.NoMetrics, "no-metrics", false, "skip the metrics (with -faults or -soak)")
	fs.StringVar(&o.Metrics, "metrics", "", "only the metric groups whose name contains one of these comma-separated words: call, rtt, reconnect, change, idle (default all)")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	idleURL := fs.String("idle-child", "", "internal: run as an idle-socket client process against this URL")
	idleAuth := fs.String("idle-auth", "", "internal: the idle client's Socket.IO CONNECT auth (JSON)")
	idleN := fs.Int("idle-n", 0, "internal: the idle client's socket count")
	_ = fs.Parse(os.Args[1:])
	if *idleURL != "" {
		if err := bench.IdleChild(*idleURL, *idleAuth, *idleN, 64); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench idle child:", err)
			os.Exit(2)
		}
		return
	}
	o.Baselines = *baselines && !o.Short
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Hour
		if o.Short {
			o.Timeout = 15 * time.Minute
		}
	}
	o.Out = os.Stderr
	o.Command = "tether-bench " + strings.Join(os.Args[1:], " ")
	rep, err := bench.Run(context.Background(), o)
	if rep != nil {
		fmt.Println()
		rep.Markdown(os.Stdout)
		fmt.Println()
		_ = rep.JSON(os.Stdout)
		if *jsonPath != "" {
			if f, ferr := os.Create(*jsonPath); ferr == nil {
				_ = rep.JSON(f)
				_ = f.Close()
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench:", err)
		if errors.Is(err, bench.ErrLost) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}
