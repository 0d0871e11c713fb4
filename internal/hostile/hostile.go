// Package hostile is what the tests of hostile clients share (issue 12):
// HTTP clients whose connections leave from a chosen loopback address, so
// "another address" is a real one without a proxy header (Linux routes all
// of 127/8 to lo), and concurrent bursts that count the answers.
package hostile

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Dialer dials from the loopback address ip.
func Dialer(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// Client is an HTTP client whose connections leave from ip, with tlsCfg for
// https:// URLs (nil: the default). Its idle connections are closed when
// the test ends.
func Client(t testing.TB, ip string, tlsCfg *tls.Config) *http.Client {
	tr := &http.Transport{DialContext: Dialer(ip).DialContext, MaxIdleConnsPerHost: 64, TLSClientConfig: tlsCfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// Burst calls f(0..n-1) at once, each on its own goroutine released
// together, and counts the status codes they return; a call that fails
// counts under -1.
func Burst(n int, f func(i int) (int, error)) map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			code, err := f(i)
			if err != nil {
				code = -1
			}
			mu.Lock()
			counts[code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return counts
}

// Attack is n attackers each calling a function over and over (at most a
// bound of times) until Stop, counting the status codes.
type Attack struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex // guards counts
	counts map[int]int
}

// StartAttack starts n attackers; attacker i calls f(i) up to most times.
// A call that fails counts under -1 and ends that attacker.
func StartAttack(n, most int, f func(attacker int) (int, error)) *Attack {
	a := &Attack{stop: make(chan struct{}), counts: map[int]int{}}
	for i := range n {
		a.wg.Go(func() {
			for range most {
				select {
				case <-a.stop:
					return
				default:
				}
				code, err := f(i)
				if err != nil {
					code = -1
				}
				a.mu.Lock()
				a.counts[code]++
				a.mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	return a
}

// WaitFor waits (at most d) until code was answered at least n times.
func (a *Attack) WaitFor(code, n int, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		a.mu.Lock()
		got := a.counts[code]
		a.mu.Unlock()
		if got >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Stop ends the attack, waits for the attackers and returns the counts.
func (a *Attack) Stop() map[int]int {
	close(a.stop)
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}
