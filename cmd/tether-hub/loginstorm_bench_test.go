package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/internal/hostile"
	"tether/internal/testenv"
)

// BenchmarkLoginStorm measures the hub binary under a login storm (issue 12
// items 3 and 4): its peak RSS (VmHWM), the answers to 40 concurrent wrong
// logins for one user from one address, and how long the owner takes to
// log in from a clean address while five others attack. With
// TETHER_BEFORE_DIR set to a checkout of an older tree (e.g. `git worktree
// add /tmp/before-login 9d25b48`) it builds and measures that hub too and
// reports the ratio. It builds binaries and runs for ~20 s per hub, so it
// only runs when asked:
//
//	TETHER_BEFORE_DIR=/tmp/before-login go test -run '^$' -bench LoginStorm -benchtime 1x ./cmd/tether-hub
func BenchmarkLoginStorm(b *testing.B) {
	here, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	after := stormHub(b, "after", here)
	b.ReportMetric(after.peakMiB, "peak-MiB")
	b.ReportMetric(float64(after.burst[401]), "burst-401s")
	b.ReportMetric(after.owner.Seconds(), "owner-s")
	if dir := os.Getenv("TETHER_BEFORE_DIR"); dir != "" {
		before := stormHub(b, "before", dir)
		b.ReportMetric(before.peakMiB, "before-peak-MiB")
		b.ReportMetric(after.peakMiB/before.peakMiB, "peak-ratio")
		b.ReportMetric(float64(before.burst[401]), "before-burst-401s")
	}
}

type stormResult struct {
	idleMiB, peakMiB float64
	burst            map[int]int // 40 concurrent wrong logins, one user, one address
	spray            map[int]int // 200 concurrent wrong logins, 200 users, 200 addresses
	owner            time.Duration
	ownerCode        int
	ownerTries       int
}

func stormHub(b *testing.B, name, tree string) stormResult {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "tether-hub-"+name)
	testenv.GoBuild(b, tree, "./cmd/tether-hub", bin)
	data := filepath.Join(dir, "hub.db")
	add := exec.Command(bin, "account", "add", "c1", "-data", data)
	add.Stdin = strings.NewReader("password-c1\n")
	if out, err := add.CombinedOutput(); err != nil {
		b.Fatalf("account add: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(bin, "serve", "-listen", addr, "-data", data)
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	}()
	url := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s hub did not listen", name)
		}
	}
	var r stormResult
	r.idleMiB = testenv.ProcStatusMiB(srv.Process.Pid, "VmHWM:")

	one := hostile.Client(b, "127.0.0.2", nil)
	r.burst = hostile.Burst(40, func(int) (int, error) {
		code, _, err := login(one, url, "c1", "wrong-password")
		return code, err
	})
	r.spray = hostile.Burst(200, func(i int) (int, error) {
		code, _, err := login(hostile.Client(b, fmt.Sprintf("127.0.5.%d", 1+i), nil), url, fmt.Sprintf("user-%d", i), "wrong-password")
		return code, err
	})

	// Five addresses attack c1 without pause; the owner logs in from a
	// sixth, retrying as Retry-After says, for at most 30 s.
	var attackers []*http.Client
	for i := range 5 {
		attackers = append(attackers, hostile.Client(b, fmt.Sprintf("127.0.6.%d", 1+i), nil))
	}
	atk := hostile.StartAttack(5, 2000, func(i int) (int, error) {
		code, _, err := login(attackers[i], url, "c1", "guess")
		return code, err
	})
	time.Sleep(time.Second) // the attack is past its free attempts
	owner := hostile.Client(b, "127.0.0.9", nil)
	start := time.Now()
	for r.ownerTries = 1; ; r.ownerTries++ {
		code, retry, err := login(owner, url, "c1", "password-c1")
		if err != nil {
			b.Fatal(err)
		}
		r.ownerCode = code
		if code != http.StatusTooManyRequests || time.Since(start)+retry > 30*time.Second {
			break
		}
		time.Sleep(retry)
	}
	r.owner = time.Since(start)
	atk.Stop()
	r.peakMiB = testenv.ProcStatusMiB(srv.Process.Pid, "VmHWM:")
	b.Logf("%s hub: peak RSS %.0f MiB (idle %.0f MiB); 40 concurrent wrong logins one user one address %v; 200 from 200 addresses %v; owner from a clean address during an attack from 5: %d after %v (%d tries)",
		name, r.peakMiB, r.idleMiB, r.burst, r.spray, r.ownerCode, r.owner.Round(time.Millisecond), r.ownerTries)
	return r
}

func login(c *http.Client, url, user, pw string) (int, time.Duration, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := c.Post(url+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, time.Duration(max(secs, 1)) * time.Second, nil
}
