package login

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// cheap are argon2 parameters that cost microseconds, for tests.
var cheap = Params{Time: 1, MemoryKiB: 8, Threads: 1}

func TestHashVerifyAndPHC(t *testing.T) {
	hr := Hasher{Params: cheap, Gate: NewGate(1, 1, time.Second)}
	h, err := hr.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePHC(h.String())
	if err != nil {
		t.Fatalf("ParsePHC(%q): %v", h.String(), err)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct hors", false}, {"", false}, {strings.Repeat("x", MaxPasswordLen+1), false}} {
		ok, err := hr.Verify(c.pw, back)
		if err != nil || ok != c.want {
			t.Errorf("Verify(%.20q) = %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
	// A password of MaxPasswordLen bytes works; one byte more never does,
	// even if its first MaxPasswordLen bytes match.
	long := strings.Repeat("y", MaxPasswordLen)
	lh, err := hr.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := hr.Verify(long, lh); !ok {
		t.Error("a password of MaxPasswordLen bytes does not verify")
	}
	if ok, _ := hr.Verify(long+"y", lh); ok {
		t.Error("an over-long password verified")
	}
	if _, err := hr.Hash(""); err == nil {
		t.Error("an empty password was hashed")
	}
}

func TestParsePHCRejects(t *testing.T) {
	good, err := Hasher{Params: cheap}.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	s := good.String()
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		strings.Replace(s, "v=19", "v=16", 1),
		strings.Replace(s, "m=8,", "m=4194304,", 1), // 4 GiB: refused before argon2 sees it
		strings.Replace(s, "t=1,", "t=0,", 1),
		strings.Replace(s, "p=1", "p=0", 1),
		s[:strings.LastIndex(s, "$")] + "$!!",
		s[:strings.LastIndex(s, "$")] + "$a2V5", // key too short
	} {
		if _, err := ParsePHC(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("ParsePHC(%q) = %v, want ErrBadHash", bad, err)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	good, _ := Hasher{Params: cheap}.Hash("pw")
	f.Add(good.String())
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePHC(s)
		if err != nil {
			return
		}
		// Whatever parses is in bounds and round-trips.
		if h.Check() != nil {
			t.Fatalf("parsed out-of-bounds hash %+v", h.Params)
		}
		if _, err := ParsePHC(h.String()); err != nil {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}

func TestGateBoundsConcurrency(t *testing.T) {
	g := NewGate(2, 4, 2*time.Second)
	var peak, cur atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	var busy atomic.Int32
	for range 10 {
		wg.Go(func() {
			err := g.Do(func() {
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				<-release
				cur.Add(-1)
			})
			if errors.Is(err, ErrBusy) {
				busy.Add(1)
			}
		})
	}
	// 2 run, 4 queue, 4 are refused at once: wait for the refusals.
	for i := 0; busy.Load() < 4 && i < 200; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if peak.Load() > 2 {
		t.Errorf("%d ran at once, want ≤ 2", peak.Load())
	}
	if busy.Load() != 4 {
		t.Errorf("%d refused, want 4 (10 callers, 2 slots, 4 queue places)", busy.Load())
	}
}

func TestGateWaitRunsOut(t *testing.T) {
	g := NewGate(1, 1, 50*time.Millisecond)
	hold := make(chan struct{})
	done := make(chan error)
	go func() { done <- g.Do(func() { <-hold }) }()
	for g.InUse() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := g.Do(func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("waiter got %v, want ErrBusy after Wait", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLimiterConcurrentReservations(t *testing.T) {
	l := NewLimiter(LimiterConfig{Free: 5, Clock: clockwork.NewFakeClockAt(time.Unix(0, 0))})
	var got atomic.Int32
	var wg sync.WaitGroup
	var attempts sync.Map
	for i := range 40 {
		wg.Go(func() {
			if a, wait := l.Reserve("alice", "192.0.2.1"); a != nil {
				got.Add(1)
				attempts.Store(i, a)
			} else if wait < time.Second {
				t.Errorf("refused with wait %v, want ≥ 1 s", wait)
			}
		})
	}
	wg.Wait()
	if got.Load() != 5 {
		t.Fatalf("%d of 40 concurrent attempts reserved, want exactly 5", got.Load())
	}
	attempts.Range(func(_, a any) bool { a.(*Attempt).Fail(); return true })
	if a, _ := l.Reserve("alice", "192.0.2.1"); a != nil {
		t.Error("a sixth attempt right after five failures was let through")
	}
}

func TestLimiterGrowingDelays(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	l := NewLimiter(LimiterConfig{Free: 2, Base: time.Second, Max: 8 * time.Second, Clock: clk})
	fail := func() {
		t.Helper()
		a, wait := l.Reserve("u", "a")
		if a == nil {
			t.Fatalf("refused (wait %v) when an attempt was due", wait)
		}
		a.Fail()
	}
	fail()
	fail()
	// After Free failures: 1 s, 2 s, 4 s, 8 s, 8 s.
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if a, wait := l.Reserve("u", "a"); a != nil || wait != want {
			t.Fatalf("Reserve = %v, wait %v; want refused, wait %v", a, wait, want)
		}
		clk.Advance(want - time.Millisecond)
		if a, _ := l.Reserve("u", "a"); a != nil {
			t.Fatalf("let through %v before the %v delay ended", time.Millisecond, want)
		}
		clk.Advance(time.Millisecond)
		fail()
	}
	// A right password clears the pair.
	clk.Advance(8 * time.Second)
	a, _ := l.Reserve("u", "a")
	a.Succeed()
	fail()
	fail()
	// Forget: a day later the counts start afresh.
	clk.Advance(DefaultForget)
	fail()
	fail()
}

func TestLimiterOwnerFromCleanAddress(t *testing.T) {
	l := NewLimiter(LimiterConfig{Clock: clockwork.NewFakeClockAt(time.Unix(0, 0))})
	for i := range 5 {
		addr := fmt.Sprintf("198.51.100.%d", i)
		for range 100 {
			if a, _ := l.Reserve("owner", addr); a != nil {
				a.Fail()
			}
		}
	}
	a, wait := l.Reserve("owner", "203.0.113.9")
	if a == nil {
		t.Fatalf("owner from a clean address refused for %v while others attack", wait)
	}
	a.Succeed()
}

func TestLimiterAddressSpray(t *testing.T) {
	l := NewLimiter(LimiterConfig{AddrFree: 20, Clock: clockwork.NewFakeClockAt(time.Unix(0, 0))})
	n := 0
	for i := range 100 {
		if a, _ := l.Reserve(fmt.Sprintf("user%d", i), "192.0.2.7"); a != nil {
			n++
			a.Fail()
		}
	}
	if n != 20 {
		t.Errorf("one address tried %d usernames, want 20 before delays", n)
	}
}

func TestLimiterBoundedTable(t *testing.T) {
	l := NewLimiter(LimiterConfig{MaxKeys: 50, Clock: clockwork.NewFakeClockAt(time.Unix(0, 0))})
	for i := range 10000 {
		if a, _ := l.Reserve("u", fmt.Sprintf("10.0.%d.%d", i/256, i%256)); a != nil {
			a.Fail()
		}
	}
	if n := l.Len(); n > 50 {
		t.Errorf("table holds %d records, want ≤ 50", n)
	}
	// Released and successful attempts leave nothing behind.
	l = NewLimiter(LimiterConfig{Clock: clockwork.NewFakeClockAt(time.Unix(0, 0))})
	for i := range 100 {
		a, _ := l.Reserve(fmt.Sprint(i), "a")
		if i%2 == 0 {
			a.Release()
		} else {
			a.Succeed()
		}
		a.Fail() // settled already: no effect
	}
	if n := l.Len(); n != 0 {
		t.Errorf("%d records after only releases and successes, want 0", n)
	}
}

func FuzzLimiter(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
		l := NewLimiter(LimiterConfig{Free: 2, AddrFree: 3, MaxKeys: 8, Clock: clk})
		var held []*Attempt
		for _, op := range ops {
			switch op % 5 {
			case 0, 1:
				if a, wait := l.Reserve(fmt.Sprint(op>>4), fmt.Sprint(op>>6)); a != nil {
					held = append(held, a)
				} else if wait < time.Second || wait > DefaultMax {
					t.Fatalf("wait %v out of [1 s, Max]", wait)
				}
			case 2, 3:
				if len(held) > 0 {
					a := held[0]
					held = held[1:]
					[]func(){a.Fail, a.Succeed, a.Release}[int(op>>3)%3]()
				}
			case 4:
				clk.Advance(time.Duration(op) * time.Second)
			}
			if n := l.Len(); n > 8+2*len(held) {
				t.Fatalf("%d records with %d in flight, MaxKeys 8", n, len(held))
			}
		}
		for _, a := range held {
			a.Release()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, e := range l.m {
			if r := e.Value.(*record); r.inflight != 0 {
				t.Fatalf("record %q has %d in flight after every attempt was settled", r.key, r.inflight)
			}
		}
	})
}
