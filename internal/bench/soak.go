package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"tether/internal/testenv"
	"tether/store"
)

// soak applies n random faults in a row. After each: the device back in
// its room, the customer's frames flowing, and tetherd's goroutines, open
// files and RSS within a bound of the first reading (a leak grows with
// the count; these bounds are far above what one fault can add). At the
// end, tetherd is stopped and its bbolt event log is read: the sequence
// numbers must be contiguous and the times ordered.
func (w *world) soak(ctx context.Context, n int, rng *rand.Rand, short bool) *SoakResult {
	cut := 5 * time.Second
	if short {
		cut = 2 * time.Second
	}
	kinds := []fault{hubKill, cutFor(cut), udpBlocked, tetherdKill, powerCut(rng), lossFor(cut), delayFor(cut), addrChange}
	res := &SoakResult{Asked: n, Kinds: map[string]int{}}
	start := time.Now()
	sample := func() (fds int, rss float64, gor int) {
		d := w.sup.current()
		pid := d.Pid()
		var g string
		_ = step(func() { g = d.Metric("go_goroutines") })
		gor, _ = strconv.Atoi(g)
		return procFDs(pid), testenv.ProcStatusMiB(pid, "VmRSS:"), gor
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		f := kinds[rng.IntN(len(kinds))]
		row := w.check(f)
		res.Done++
		res.Kinds[f.name]++
		if row.Recovered {
			res.Recovered++
		} else {
			res.Lost++
			res.Failures = append(res.Failures, fmt.Sprintf("fault %d (%s): %s", i+1, f.name, row.Lost))
		}
		// Readings settle a moment after recovery (restarts, new calls).
		time.Sleep(time.Second)
		fds, rss, gor := sample()
		if i == 0 || res.FdsFirst == 0 {
			res.FdsFirst, res.RSSFirst, res.GorFirst = fds, rss, gor
		}
		res.FdsMax, res.RSSMax, res.GorMax = max(res.FdsMax, fds), max(res.RSSMax, rss), max(res.GorMax, gor)
		if fds > 2*res.FdsFirst+64 || rss > 2*res.RSSFirst+64 || (res.GorFirst > 0 && gor > 2*res.GorFirst+200) {
			res.Failures = append(res.Failures, fmt.Sprintf("fault %d: growth: fds %d, RSS %.1f MiB, goroutines %d", i+1, fds, rss, gor))
			res.Lost++
		}
		w.t.printf("soak %d/%d: %s: recovered %v in %.2f s (%s); fds %d RSS %.1f MiB goroutines %d\n",
			i+1, n, f.name, row.Recovered, row.RecoverMs/1000, row.Lost, fds, rss, gor)
	}
	res.Duration = time.Since(start).Round(time.Second).String()
	w.sup.stop()
	res.Events, res.EventsOK = eventLog(filepath.Join(w.dir, "app", "tetherd.db"))
	if !res.EventsOK {
		res.Failures = append(res.Failures, "event log inconsistent")
		res.Lost++
	}
	return res
}

// eventLog opens a copy of the state file (store.Open would set a corrupt
// original aside) and checks its event log: readable, sequence numbers
// contiguous, times not going backwards by more than a clock step.
func eventLog(db string) (int, bool) {
	b, err := os.ReadFile(db)
	if err != nil {
		return 0, false
	}
	cp := db + ".soak-copy"
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		return 0, false
	}
	defer os.Remove(cp)
	s, err := store.Open(cp, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LockTimeout: 2 * time.Second})
	if err != nil {
		return 0, false
	}
	defer s.Close()
	if rec, _ := s.Recovered(); rec {
		return 0, false
	}
	evs, err := s.Events(1 << 20)
	if err != nil || len(evs) == 0 {
		return len(evs), false
	}
	slices.SortFunc(evs, func(a, b store.Event) int { return int(a.Seq) - int(b.Seq) })
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 || evs[i].Time.Before(evs[i-1].Time.Add(-time.Second)) {
			return len(evs), false
		}
	}
	return len(evs), true
}
