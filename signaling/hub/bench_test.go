package hub_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/signaling/hub"
	"tether/signaling/socketio"
)

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// connectAll opens n device sockets at once and returns them and the time
// until the last CONNECT was answered.
func connectAll(b *testing.B, addr, token string, n int, verify bool) ([]*rawDevice, time.Duration) {
	out := make([]*rawDevice, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256) // the listen backlog, not the hub, is the limit otherwise
	start := time.Now()
	errs := make(chan error, n)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := dialRaw(addr, token, verify)
			if err != nil {
				errs <- err
				return
			}
			out[i] = d
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return out, el
}

// BenchmarkIdleDevices holds N connected device sockets (websocket,
// CONNECT with a token, optionally session:verify) and reports the process's heap+stack growth and
// goroutines per socket, and the time N devices take to connect at once
// (a reconnect storm after a hub restart, bounded to 256 in flight).
func BenchmarkIdleDevices(b *testing.B) {
	for _, n := range []int{500, 2000} {
		for _, verify := range []bool{false, true} {
			name := fmt.Sprint(n, "/connect")
			if verify {
				name = fmt.Sprint(n, "/connect+verify")
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					// One client address holds every socket here: no
					// per-address bounds (issue 12's defaults refuse it).
					e := startHub(b, "", func(c *hub.Config) { c.MaxSessionsPerAddr, c.MaxConnsPerAddr = -1, -1 })
					tok := e.token("c1")
					before := heapInuse()
					g0 := runtime.NumGoroutine()
					devs, storm := connectAll(b, e.h.Addr().String(), tok, n, verify)
					after := heapInuse()
					g1 := runtime.NumGoroutine()
					b.ReportMetric(float64(after-before)/float64(n), "B/socket")
					b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/socket")
					b.ReportMetric(float64(storm.Milliseconds()), "ms/storm")
					for _, d := range devs {
						d.c.Close()
					}
					e.stop()
				}
			})
		}
	}
}

// BenchmarkSignalEndToEnd is the signalling rate through the hub: the
// device (signaling.Device over websocket) sends candidates to its
// customer (our Go client over websocket), which counts them.
func BenchmarkSignalEndToEnd(b *testing.B) {
	e := startHub(b, "", func(c *hub.Config) { c.RateLimit = -1 })
	d := e.device(e.token("c1"))
	if got := d.ev.next(b); !strings.HasPrefix(got, "joined") {
		b.Fatal(got)
	}
	c := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	if got := c.ev.next(b); !strings.HasPrefix(got, "joined 0") {
		b.Fatal(got)
	}
	got := make(chan struct{}, 1<<16)
	c.On("signal", func(socketio.Args, func(...any)) { got <- struct{}{} })
	s := candidate(c.id(), "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	const window = 256 // in flight, so the benchmark measures throughput
	sent, recv := 0, 0
	for recv < b.N {
		for sent < b.N && sent-recv < window {
			if err := d.SendSignal(ctx, s); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		select {
		case <-got:
			recv++
		case <-time.After(wait):
			b.Fatalf("received %d of %d", recv, sent)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signals/s")
}
