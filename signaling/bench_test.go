package signaling

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling/internal/siotest"
)

// BenchmarkReconnectAfterRestart kills the official socket.io server with
// SIGKILL, keeps it down for a random 1–10 s, restarts it, and measures for
// our Device and, in the same run, the official socket.io-client configured
// exactly as the seed: the time from "hub up" (the new server listening) to
// room:join acknowledged. Run it alone; it takes about two minutes:
//
//	go test -run '^$' -bench ReconnectAfterRestart -benchtime 1x ./signaling
//
// TETHER_BENCH_RESTARTS sets the number of restarts (default 20).
func BenchmarkReconnectAfterRestart(b *testing.B) {
	restarts := 20
	if v, err := strconv.Atoi(os.Getenv("TETHER_BENCH_RESTARTS")); err == nil && v > 0 {
		restarts = v
	}
	srv := siotest.StartServer(b, siotest.ServerOptions{})
	joined := make(chan time.Time, 64)
	d, err := NewDevice(DeviceConfig{
		HubURL:   srv.URL(),
		Token:    func() string { return "good-token" },
		Handlers: Handlers{Joined: func(JoinReply) { joined <- time.Now() }},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	official := siotest.StartClient(b, srv.URL(), siotest.ClientOptions{})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	if _, err := official.Next(wctx, "joined"); err != nil {
		b.Fatal(err)
	}
	wcancel()
	select {
	case <-joined:
	case <-time.After(20 * time.Second):
		b.Fatal("device never joined")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ours, theirs []float64
	b.ResetTimer()
	for range b.N {
		for i := range restarts {
			srv.Kill()
			outage := time.Second + time.Duration(rng.Int64N(int64(9*time.Second)))
			time.Sleep(outage)
			srv.Restart()
			up := srv.ReadyAt()
			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			ev, err := official.WaitFor(wctx, func(e siotest.ClientEvent) bool { return e.Name == "joined" && !e.At.Before(up) })
			if err != nil {
				b.Fatalf("restart %d: official client: %v", i, err)
			}
			var t time.Time
			for t.IsZero() || t.Before(up) {
				select {
				case t = <-joined:
				case <-wctx.Done():
					b.Fatalf("restart %d: device did not rejoin", i)
				}
			}
			wcancel()
			ours = append(ours, float64(t.Sub(up).Milliseconds()))
			theirs = append(theirs, float64(ev.At.Sub(up).Milliseconds()))
			b.Logf("restart %2d outage %5.2fs: ours %5.0f ms, official %5.0f ms", i, outage.Seconds(), ours[len(ours)-1], theirs[len(theirs)-1])
		}
	}
	mo, mt := testenv.Median(ours), testenv.Median(theirs)
	b.ReportMetric(mo, "ours-median-ms")
	b.ReportMetric(mt, "official-median-ms")
	b.ReportMetric(testenv.Percentile(ours, 0.9), "ours-p90-ms")
	b.ReportMetric(testenv.Percentile(theirs, 0.9), "official-p90-ms")
	if mt > 0 {
		b.ReportMetric(mo/mt, "ratio")
	}
}
