// Package bench is tether-bench: the seed's metrics measured on the real
// binaries side by side with their baselines in one run, a fault matrix
// checked for recovery with nothing lost, and a soak of random faults
// (issue 16). It builds its own network (board/netns: device A, router R
// with the hub and its TURN server, customer B) and reuses the shared
// test environment (internal/testenv: the tetherd runner, Chromium, the
// customer page's state; the official socket.io-client harness through
// signaling/official); the baselines that live in the repository's
// benchmarks (the seed's admin page in Chromium, issue 12's attacks) run
// there and are read back.
//
// It needs root (network namespaces), node with the npm packages (`make
// npm`), Chromium and the built customer page (`make web`), and runs
// inside the source tree (it builds tetherd and tether-hub from it).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tether/appliance/peer"
	"tether/board/netns"
	"tether/internal/testenv"
)

// Options select what one run does.
type Options struct {
	Short   bool // CI: few repetitions, short cuts, fault subset
	Faults  bool // run the fault matrix
	Soak    int  // random faults in a row (0: none)
	Reps    int  // repetitions per metric (0: 3 with Short, else 10)
	Verbose bool // the shared code's t.Log lines
	Out     io.Writer
	Command string // the command line, printed with the table
	// Baselines runs the repository benchmarks that hold baselines in
	// test code (`go test -bench`): minutes each.
	Baselines bool
	Timeout   time.Duration
	// Only keeps the faults whose name contains one of these substrings
	// (comma-separated), and NoMetrics skips the metrics: for looking
	// into one fault.
	Only      string
	NoMetrics bool
	// Metrics keeps the metric groups whose name contains one of these
	// (comma-separated): call, rtt, reconnect, change, idle; "" is all.
	Metrics string
}

// ErrLost is returned when a fault did not recover or lost state.
var ErrLost = errors.New("bench: a fault did not recover or lost state")

// Run measures and returns the report. Every process, namespace and
// temporary directory it made is gone when it returns, also after
// SIGINT/SIGTERM (then the process exits with status 130).
func Run(ctx context.Context, o Options) (*Report, error) {
	if why := netns.Available(); why != "" {
		return nil, fmt.Errorf("bench: %s", why)
	}
	if testenv.ChromiumPath() == "" {
		return nil, errors.New("bench: chromium not installed (apt-get install chromium)")
	}
	if o.Reps == 0 {
		o.Reps = 10
		if o.Short {
			o.Reps = 3
		}
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	t := newTB(ctx, o.Out, o.Verbose)
	defer t.close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		select {
		case s := <-sigs:
			t.printf("%v: cleaning up\n", s)
			t.close()
			os.Exit(130)
		case <-ctx.Done():
			// The time bound: the fault and soak loops stop at the next
			// fault (each wait inside is bounded), and the report so far
			// is printed; a second bound, well past the longest wait,
			// ends the run with a clean-up if a step is stuck anyway.
			t.printf("time bound %v reached: finishing the current step\n", o.Timeout)
			select {
			case <-quit:
			case s := <-sigs:
				t.printf("%v: cleaning up\n", s)
				t.close()
				os.Exit(130)
			case <-time.After(5 * time.Minute):
				t.printf("still busy 5 min past the time bound: cleaning up\n")
				t.close()
				os.Exit(124)
			}
		case <-quit:
		}
	}()

	rep := &Report{Command: o.Command, Started: time.Now()}
	defer func() { rep.Elapsed = time.Since(rep.Started).Round(time.Second).String() }()
	var w *world
	if err := step(func() { w = newWorld(t) }); err != nil {
		return rep, fmt.Errorf("bench: building the world: %w", err)
	}
	note := func(what string, err error) {
		if err != nil {
			rep.Errors = append(rep.Errors, what+": "+err.Error())
			t.printf("%s: %v\n", what, err)
		}
	}
	note("official client", step(w.startSeed))
	note("chromium", step(w.startBrowser))
	if w.br == nil {
		return rep, errors.New("bench: no customer browser")
	}
	if err := step(func() { w.cust = w.customer(); w.inCall(w.cust) }); err != nil {
		return rep, fmt.Errorf("bench: first call: %w", err)
	}
	t.printf("customer in %s decodes the counter\n", w.topo.B)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))

	for _, m := range []struct {
		name string
		run  func()
	}{
		{"call", func() { w.measureCall(rep, o) }},
		{"rtt", func() { w.measureRTT(rep, o) }},
		{"reconnect", func() { w.measureReconnect(rep, o, rng) }},
		{"change", func() { w.measureChange(rep, o) }},
		{"idle", func() { w.measureIdle(rep, o) }},
	} {
		if !o.NoMetrics && ctx.Err() == nil && selected(o.Metrics, m.name) {
			m.run()
		}
	}
	if o.Baselines && ctx.Err() == nil {
		w.baselines(ctx, rep, o)
	}
	if o.Faults && ctx.Err() == nil {
		w.faultMatrix(ctx, rep, o, rng)
	}
	if o.Soak > 0 && ctx.Err() == nil {
		rep.Soak = w.soak(ctx, o.Soak, rng, o.Short)
		if rep.Soak.Lost > 0 {
			rep.Lost = true
		}
	}
	// The logs are what tells a bench artefact from a product bug (the
	// 10-60 s link cuts of 2026-12-03): keep them whenever something did
	// not recover, and always with -v.
	if rep.Lost || o.Verbose {
		w.keepLogs()
	}
	if rep.Lost {
		return rep, ErrLost
	}
	return rep, nil
}

// keepLogs writes the current tetherd's and the hub's logs to the
// temporary directory (they go with the world's clean-up otherwise).
func (w *world) keepLogs() {
	for name, text := range map[string]string{
		"tetherd": strings.Join(w.sup.current().LogLines(""), "\n"),
		"hub":     w.hub.log.String(),
	} {
		path := filepath.Join(os.TempDir(), "tether-bench-"+name+".log")
		_ = os.WriteFile(path, []byte(text), 0o644)
		w.t.printf("%s's log: %s\n", name, path)
	}
}

// measureCall: glass-to-glass, heartbeat RTT and tetherd's CPU and RSS,
// all in a call with one customer.
func (w *world) measureCall(rep *Report, o Options) {
	n := 20 * o.Reps
	g2g, err := glassToGlass(w.cust, n)
	if err == nil && len(g2g) == 0 {
		err = errors.New("no stamp decoded at the customer")
	}
	if err != nil {
		rep.Errors = append(rep.Errors, "glass-to-glass: "+err.Error())
	}
	base, err := w.chromiumG2G(n)
	if err != nil {
		rep.Errors = append(rep.Errors, "glass-to-glass, Chromium → Chromium: "+err.Error())
	}
	rep.add(Row{Metric: "glass-to-glass latency A → B", Unit: "ms", Claim: "–", Tether: stat(g2g), Baseline: stat(base),
		BaseName: "Chromium → Chromium (canvas with the same stamp)", Note: "capture stamp read back in Chromium; one clock"})
	d := 5 * time.Second
	if !o.Short {
		d = 20 * time.Second
	}
	pid := w.sup.current().Pid()
	cpu, rss := testenv.CPURSS(pid, d)
	rep.add(Row{Metric: "tetherd CPU in a call (320×180 15 fps)", Unit: "% of a core", Claim: "–", Tether: stat([]float64{cpu})})
	rep.add(Row{Metric: "tetherd RSS in a call", Unit: "MiB", Claim: "–", Tether: stat(rss)})
	w.t.printf("call: glass-to-glass %v ms, CPU %.1f %%, RSS %v MiB\n", stat(g2g), cpu, stat(rss))
}

// measureRTT: the data-channel heartbeat's round trip (every 5 s,
// appliance/peer; tetherd's tether_peer_rtt_seconds is the last one) with
// 0, 50 and 200 ms added to every packet the device sends (netns.DelayA:
// NFQUEUE in R, netem's delay without netem), one sample per beat, and
// the customer's ICE candidate-pair RTT and tetherd's socket keep-alive
// RTT beside it.
func (w *world) measureRTT(rep *Report, o Options) {
	delays := []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond}
	if o.Short {
		delays = []time.Duration{0, 200 * time.Millisecond}
	}
	var base float64
	for _, d := range delays {
		var dl *netns.Delayer
		if d > 0 {
			if err := step(func() { dl = w.topo.DelayA(d) }); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("heartbeat RTT, %v added: %v", d, err))
				continue
			}
			// The metric is the last beat's: let one beat cross the delay.
			time.Sleep(peer.DefaultHeartbeatInterval + time.Second)
		}
		var rtt, ice []float64
		for i := 0; i < o.Reps+1; i++ {
			if v, err := strconv.ParseFloat(w.metric("tether_peer_rtt_seconds"), 64); err == nil && v > 0 {
				rtt = append(rtt, v*1000)
			}
			if s, err := w.cust.State(); err == nil && s.Stats.RTTMs > 0 {
				ice = append(ice, s.Stats.RTTMs)
			}
			time.Sleep(peer.DefaultHeartbeatInterval)
		}
		// The ICE pair's RTT is Chromium's smoothed figure: it trails a
		// change of delay (the socket's keep-alive RTT, every 25 s,
		// trails further and is left out).
		note := fmt.Sprintf("tether_peer_rtt_seconds, one sample per beat; customer's ICE pair RTT (smoothed) %v ms", stat(ice))
		if dl != nil {
			st := dl.Stats()
			if err := dl.Stop(); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("heartbeat RTT, %v added: %v", d, err))
			}
			s := stat(rtt)
			if s != nil && base > 0 {
				note = fmt.Sprintf("rise over 0 ms added: %.0f ms; ", s.Median-base) + note
			}
			note += fmt.Sprintf("; %d packets delayed, %d let through undelayed (holding line full)", st.Delayed, st.Overflow)
		} else if s := stat(rtt); s != nil {
			base = s.Median
		}
		rep.add(Row{Metric: fmt.Sprintf("heartbeat RTT, %d ms added", d.Milliseconds()), Unit: "ms", Claim: "~50–200 ms", Tether: stat(rtt), Note: note})
		w.t.printf("heartbeat RTT with %v added: %v ms (ICE pair %v ms)\n", d, stat(rtt), stat(ice))
	}
}

// measureReconnect: hub restarts and link cuts, tetherd beside the
// official client in the same namespace against the same hub.
func (w *world) measureReconnect(rep *Report, o Options, rng *rand.Rand) {
	var ours, seed []float64
	for i := 0; i < o.Reps; i++ {
		out := jitter(rng, time.Second, 5*time.Second)
		a, b, err := w.hubRestart(out)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("hub restart %d: %v", i, err))
			rep.Lost = true
			break
		}
		ours, seed = append(ours, a), append(seed, b)
		w.t.printf("hub restart %d (down %.1f s): tetherd %.0f ms, official client %.0f ms\n", i, out.Seconds(), a, b)
	}
	rep.add(Row{Metric: "socket reconnect after hub kill -9 (hub up → room joined)", Unit: "ms", Claim: "2–3 s",
		Baseline: stat(seed), BaseName: "socket.io-client 4.8.4, seed settings", Tether: stat(ours)})

	cuts := []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second, 60 * time.Second}
	perCut := []int{o.Reps, max(1, o.Reps/3), max(1, o.Reps/5), 1}
	if o.Short {
		cuts, perCut = cuts[:1], []int{o.Reps}
	}
	var det, media []float64
	for ci, d := range cuts {
		var ours, seed []float64
		keptO, keptS := 0, 0
		for i := 0; i < perCut[ci]; i++ {
			r, err := w.linkCut(d)
			if err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("link cut %v #%d: %v", d, i, err))
				rep.Lost = true
				break
			}
			if r.ours >= 0 {
				ours = append(ours, r.ours)
			} else {
				keptO++
			}
			if r.seed >= 0 {
				seed = append(seed, r.seed)
			} else {
				keptS++
			}
			media = append(media, r.media)
			w.t.printf("link cut %v #%d: detect %.0f ms; rejoin tetherd %.0f ms, official %.0f ms; frames %.0f ms\n", d, i, r.detect, r.ours, r.seed, r.media)
		}
		rep.add(Row{Metric: fmt.Sprintf("socket reconnect after a %s link cut (link up → room joined)", d), Unit: "ms", Claim: "2–3 s",
			Baseline: stat(seed), BaseName: "socket.io-client 4.8.4, seed settings", Tether: stat(ours),
			Note: fmt.Sprintf("socket lived through the cut (no reconnect to time): Tether %d, official %d of %d", keptO, keptS, perCut[ci])})
	}
	rep.add(Row{Metric: "customer frames again after a link cut (link up → frame decoded)", Unit: "ms", Claim: "3–5 s", Tether: stat(media),
		Note: "all cut lengths"})
	var restart []float64
	for i := 0; i < o.Reps; i++ {
		d, m, err := w.deadPath()
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("dead path %d: %v", i, err))
			rep.Lost = true
			break
		}
		det, restart = append(det, d), append(restart, m)
		w.t.printf("dead path %d: detected after %.0f ms; frames %.0f ms after the cable is back\n", i, d, m)
	}
	rep.add(Row{Metric: "dead-path detection (cable out → peer degraded)", Unit: "ms", Claim: "–", Tether: stat(det)})
	rep.add(Row{Metric: "ICE restart (cable back after detection → customer decodes frames)", Unit: "ms", Claim: "3–5 s", Tether: stat(restart),
		Note: "includes the socket reconnect"})
}

// measureChange: customer changes through the hub's page.
func (w *world) measureChange(rep *Report, o Options) {
	var v []float64
	for i := 0; i < o.Reps; i++ {
		var ms float64
		err := step(func() {
			var e error
			ms, e = w.customerChange()
			if e != nil {
				w.t.Fatal(e)
			}
		})
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("customer change %d: %v", i, err))
			rep.Lost = true
			break
		}
		v = append(v, ms)
		w.t.printf("customer change %d: %.0f ms\n", i, ms)
	}
	rep.add(Row{Metric: "customer change (end → next customer's first decoded frame)", Unit: "ms", Claim: "< 1 s", Tether: stat(v)})
}

// baselines runs the repository benchmarks whose baselines live in test
// code, one after the other so they do not share the CPU with ours.
func (w *world) baselines(ctx context.Context, rep *Report, o Options) {
	n := max(3, o.Reps/2)
	// run runs one benchmark of appliance/peer; a failure is reported
	// with the end of its output, and the whole output is kept in a file
	// (a baseline that fails under load must say where it stopped).
	run := func(name string) (map[string]float64, bool) {
		w.t.printf("baseline: %s (the seed's admin page in Chromium), %dx\n", name, n)
		m, out, err := goBench(ctx, w.root, "./appliance/peer", "^"+name+"$", n, 20*time.Minute)
		if err != nil {
			path := filepath.Join(os.TempDir(), "tether-bench-"+name+".log")
			_ = os.WriteFile(path, []byte(out), 0o644)
			rep.Errors = append(rep.Errors, name+": "+err.Error()+": "+tail(out, 600)+" (whole output: "+path+")")
			return nil, false
		}
		return m, true
	}
	one := func(m map[string]float64, k string) *Stat {
		if v, ok := m[k]; ok {
			return &Stat{N: n, Median: v, P95: m[strings.Replace(k, "_ms", "_p90_ms", 1)]}
		}
		return nil
	}
	if m, ok := run("BenchmarkNetnsICERestart"); ok {
		rep.add(Row{Metric: "dead-path detection, in-process pion peer vs the seed's admin page (R's forwarding cut)", Unit: "ms", Claim: "–",
			Baseline: one(m, "chromium_detect_ms"), BaseName: "seed admin page in Chromium", Tether: one(m, "pion_detect_ms"),
			Note: "appliance/peer BenchmarkNetnsICERestart, same run; p95 column is p90 there"})
		rep.add(Row{Metric: "ICE restart, in-process pion peer vs the seed's admin page (path back → frame)", Unit: "ms", Claim: "3–5 s",
			Baseline: one(m, "chromium_restart_ms"), BaseName: "seed admin page in Chromium", Tether: one(m, "pion_restart_ms"),
			Note: "appliance/peer BenchmarkNetnsICERestart, same run; p95 column is p90 there"})
	}
	if m, ok := run("BenchmarkNetnsCustomerChange"); ok {
		note := "appliance/peer BenchmarkNetnsCustomerChange, same run, A—R—B; p95 column is p90 there"
		if f := m["chromium_change_failures"]; f > 0 {
			note += fmt.Sprintf("; the admin page's next customer got no frame in %.0f of %d changes", f, n)
		}
		rep.add(Row{Metric: "customer change, in-process pion peer vs the seed's admin page (room:user:joined → first frame)", Unit: "ms", Claim: "< 1 s",
			Baseline: one(m, "chromium_change_ms"), BaseName: "seed admin page in Chromium (kept peer connection, renegotiated)", Tether: one(m, "pion_change_ms"),
			Note: note})
	}
}

// faultMatrix runs every fault once and checks it.
func (w *world) faultMatrix(ctx context.Context, rep *Report, o Options, rng *rand.Rand) {
	fs := []fault{hubKill, cutFor(2 * time.Second), cutFor(30 * time.Second), cutFor(120 * time.Second),
		lossFor(20 * time.Second), delayFor(20 * time.Second), udpBlocked, wsBlocked, addrChange, tetherdKill, powerCut(rng), revoked}
	if o.Short {
		fs = []fault{hubKill, cutFor(2 * time.Second), lossFor(5 * time.Second), delayFor(8 * time.Second), udpBlocked, wsBlocked, addrChange, tetherdKill, powerCut(rng), revoked}
	}
	for _, f := range fs {
		if ctx.Err() != nil {
			return
		}
		if !selected(o.Only, f.name) {
			continue
		}
		w.t.printf("fault: %s\n", f.name)
		row := w.check(f)
		w.t.printf("fault: %s: recovered %v in %.2f s, lost %s %s\n", f.name, row.Recovered, row.RecoverMs/1000, row.Lost, row.Note)
		rep.Faults = append(rep.Faults, row)
		if !row.Recovered {
			rep.Lost = true
			if o.Verbose {
				w.keepLogs() // this tetherd's: a later fault may restart it
			}
		}
	}
	if o.Only != "" {
		return
	}
	if o.Baselines {
		w.t.printf("fault: issue 12's attacks (go test -bench Attack ./signaling/hub)\n")
		row := hostileAttacks(ctx, w.root)
		rep.Faults = append(rep.Faults, row)
		if !row.Recovered {
			rep.Lost = true
		}
	}
}

func selected(only, name string) bool {
	if only == "" {
		return true
	}
	for _, o := range strings.Split(only, ",") {
		if o != "" && strings.Contains(name, o) {
			return true
		}
	}
	return false
}
