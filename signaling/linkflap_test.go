package signaling

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/board/netns"
	"tether/internal/testenv"
	"tether/signaling/internal/siotest"
	"tether/signaling/netwatch"
)

// The link-flap scenario: the Node server runs in namespace B, the device
// in a child process (this test binary re-executed) in namespace A, and the
// test pulls A's end of the veth link. The child reports when the room is
// usable again after the parent says the link is back.

const flapChildEnv = "TETHER_FLAP_CHILD_URL"

// TestHelperFlapChild is the device side; it only runs as the child.
func TestHelperFlapChild(t *testing.T) {
	url := os.Getenv(flapChildEnv)
	if url == "" {
		t.Skip("child process of the link-flap tests")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := netwatch.New()
	w.Logger = slog.New(slog.DiscardHandler)
	go w.Run(ctx)
	joined := make(chan struct{}, 16)
	d, err := NewDevice(DeviceConfig{
		HubURL:         url,
		Token:          func() string { return "good-token" },
		NetworkChanged: w.C(),
		Handlers:       Handlers{Joined: func(JoinReply) { joined <- struct{}{} }},
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	<-joined
	fmt.Println("READY")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "PROBE" {
			continue
		}
		// Probe until an acknowledged round trip succeeds.
		for {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := d.Client().EmitWithAck(pctx, "echo", "probe")
			pcancel()
			if err == nil {
				fmt.Println("OK", time.Now().UnixNano())
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

type flapRig struct {
	p     *netns.Pair
	srv   *siotest.Server
	stdin io.Writer
	lines chan string
}

func newFlapRig(tb testing.TB) *flapRig {
	p := netns.NewPair(tb)
	srv := siotest.StartServer(tb, siotest.ServerOptions{Netns: p.B, Host: p.AddrB, PingInterval: time.Second, PingTimeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.Command(ctx, p.A, os.Args[0], "-test.run", "^TestHelperFlapChild$")
	cmd.Env = append(os.Environ(), flapChildEnv+"="+srv.URL())
	cmd.Stderr = os.Stderr
	if !testing.Verbose() {
		cmd.Stderr = nil
	}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	r := &flapRig{p: p, srv: srv, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	r.expect(tb, "READY", 20*time.Second)
	return r
}

func (r *flapRig) expect(tb testing.TB, prefix string, d time.Duration) string {
	tb.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				tb.Fatalf("child exited waiting for %s", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timer.C:
			tb.Fatalf("no %s from the child within %v", prefix, d)
		}
	}
}

// flap cuts the link for outage and returns how long after the link came
// back the room answered again.
func (r *flapRig) flap(tb testing.TB, outage time.Duration) time.Duration {
	r.p.LinkDown()
	time.Sleep(outage)
	r.p.LinkUp()
	up := time.Now()
	fmt.Fprintln(r.stdin, "PROBE")
	l := r.expect(tb, "OK ", 30*time.Second)
	ns, err := strconv.ParseInt(strings.TrimPrefix(l, "OK "), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return time.Unix(0, ns).Sub(up)
}

func TestLinkFlapRecovers(t *testing.T) {
	r := newFlapRig(t)
	// Short: the TCP connection survives the cut. Long: the ping watchdog
	// (1 s + 2 s here) drops it and the device is in backoff when the link
	// returns.
	for _, outage := range []time.Duration{1500 * time.Millisecond, 5 * time.Second} {
		d := r.flap(t, outage)
		t.Logf("outage %v: room usable %v after the link came back", outage, d)
		if d > 10*time.Second {
			t.Fatalf("outage %v: room usable only %v after link up", outage, d)
		}
	}
}

// BenchmarkLinkFlap reports the time from link up to the first
// acknowledged round trip, for outages that the TCP connection survives and
// for outages that end it.
//
//	go test -run '^$' -bench LinkFlap -benchtime 1x ./signaling
func BenchmarkLinkFlap(b *testing.B) {
	r := newFlapRig(b)
	for _, c := range []struct {
		name   string
		outage time.Duration
	}{{"survives", 1500 * time.Millisecond}, {"drops", 5 * time.Second}} {
		b.Run(c.name, func(b *testing.B) {
			var ds []float64
			for range b.N {
				for range 5 {
					ds = append(ds, float64(r.flap(b, c.outage).Milliseconds()))
				}
			}
			b.ReportMetric(testenv.Median(ds), "median-ms-after-link-up")
			b.ReportMetric(testenv.Percentile(ds, 1), "max-ms")
			b.Logf("%s: %v ms", c.name, ds)
		})
	}
}

var _ = exec.Command
