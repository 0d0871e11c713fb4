package store

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tether/internal/testenv"
)

// The power-cut test (issue 6, "State"): a writer process commits a sequence
// number N into several keys of several buckets in one transaction, appends
// an event, and reports each commit on a pipe. The parent SIGKILLs it at
// random points, then opens the file and proves that it opens without
// recovery, that every key holds the same N (never a torn write), and that N
// is the last confirmed commit or the one after it (never older).
//
// SIGKILL loses no page-cache writes, so this proves bbolt's transaction
// atomicity at every instruction boundary of our write path, not the
// storage stack's fsync ordering on a real power loss; that part is bbolt's
// copy-on-write design and the SD card's honesty.

const (
	powercutBucket = "powercut"
	powercutKeys   = 8
	powercutEvents = 50 // small ring so the test also kills during trimming
)

func powercutOptions() Options {
	return Options{EventLimit: powercutEvents, LockTimeout: 5 * time.Second, Logger: testenv.Logger()}
}

// TestHelperWriter is not a test: it is the writer process of
// TestPowerCut, started with the role in the environment.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" || os.Getenv(helperEnv+"_ROLE") != "writer" {
		t.Skip("helper process only")
	}
	progress := os.NewFile(3, "progress")
	go func() { // the parent's death closes stdin: do not outlive it
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	s, err := Open(path, powercutOptions())
	if err != nil {
		fmt.Fprintln(progress, "error", err)
		os.Exit(1)
	}
	n, err := powercutRead(s)
	if err != nil {
		fmt.Fprintln(progress, "error", err)
		os.Exit(1)
	}
	fmt.Fprintln(progress, "ready", n)
	for {
		n++
		if err := powercutWrite(s, n); err != nil {
			fmt.Fprintln(progress, "error", err)
			os.Exit(1)
		}
		fmt.Fprintln(progress, n)
	}
}

// powercutWrite writes n everywhere in one transaction. Value sizes vary with
// n so pages split, merge and overflow while the writer is being killed.
func powercutWrite(s *Store, n uint64) error {
	pad := strings.Repeat("x", int(n*37%5000))
	return s.update(func(tx kvTx) error {
		b, err := tx.createBucket(powercutBucket)
		if err != nil {
			return err
		}
		for i := 0; i < powercutKeys; i++ {
			if err := b.put([]byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("%d %s", n, pad[:len(pad)*i/powercutKeys]))); err != nil {
				return err
			}
		}
		if err := putRecord(tx, bucketSession, keySession, sessionRecord{V: recordVersion, Session: Session{Token: fmt.Sprintf("tok-%d", n)}}); err != nil {
			return err
		}
		if err := putRecord(tx, bucketLink, keyLink, linkRecord{V: recordVersion, LinkState: LinkState{SocketReconnects: n}}); err != nil {
			return err
		}
		return appendEventTx(tx, powercutEvents, Event{Time: time.Unix(int64(n), 0), Component: "writer", To: strconv.FormatUint(n, 10), Detail: pad[:len(pad)/8]})
	})
}

// powercutRead returns the N the file holds, or an error if any part of the
// last transaction disagrees.
func powercutRead(s *Store) (uint64, error) {
	var n uint64
	var errs []string
	err := s.view(func(tx kvTx) error {
		b := tx.bucket(powercutBucket)
		if b == nil {
			return nil
		}
		for i := 0; i < powercutKeys; i++ {
			raw := b.get([]byte(fmt.Sprintf("k%d", i)))
			f := strings.Fields(string(raw))
			if len(f) == 0 {
				errs = append(errs, fmt.Sprintf("k%d empty", i))
				continue
			}
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				errs = append(errs, fmt.Sprintf("k%d = %q", i, raw))
				continue
			}
			if i == 0 {
				n = v
			} else if v != n {
				errs = append(errs, fmt.Sprintf("torn: k0=%d k%d=%d", n, i, v))
			}
			if want := int(n * 37 % 5000 * uint64(i) / powercutKeys); len(raw) != len(f[0])+1+want {
				errs = append(errs, fmt.Sprintf("k%d has %d bytes, want %d", i, len(raw), len(f[0])+1+want))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if sess, err := s.Session(); err != nil || sess.Token != fmt.Sprintf("tok-%d", n) {
			errs = append(errs, fmt.Sprintf("session %q (%v), want tok-%d", sess.Token, err, n))
		}
		if ls, err := s.LinkState(); err != nil || ls.SocketReconnects != n {
			errs = append(errs, fmt.Sprintf("link counter %d (%v), want %d", ls.SocketReconnects, err, n))
		}
		ev, err := s.Events(powercutEvents + 10)
		if err != nil || len(ev) != int(min(n, powercutEvents)) {
			errs = append(errs, fmt.Sprintf("%d events (%v), want %d", len(ev), err, min(n, powercutEvents)))
		}
		for i, e := range ev {
			if want := n - uint64(len(ev)-1-i); e.Seq != want || e.To != strconv.FormatUint(want, 10) {
				errs = append(errs, fmt.Sprintf("event %d = seq %d to %s, want %d", i, e.Seq, e.To, want))
				break
			}
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("inconsistent store at N=%d: %s", n, strings.Join(errs, "; "))
	}
	return n, nil
}

func TestPowerCut(t *testing.T) {
	// The full run stops at 300 kills or 20 s. -short (CI's qemu-user runs,
	// where each exec of the test binary is slow) stops at 20 kills or 30 s.
	kills, budget, minKills := 300, 20*time.Second, 25
	if testing.Short() {
		kills, budget, minKills = 20, 30*time.Second, 5
	}
	path := filepath.Join(t.TempDir(), "state.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	deadline := time.Now().Add(budget)
	var (
		done, midWrite, beforeReady int
		last                        uint64 // N verified after the previous kill
	)
	for done < kills && time.Now().Before(deadline) {
		confirmed, ready, stderr := powercutRound(t, path, rng)
		s, err := Open(path, powercutOptions())
		if err != nil {
			t.Fatalf("kill %d: Open: %v\nwriter stderr:\n%s", done, err, stderr)
		}
		if ok, why := s.Recovered(); ok {
			t.Fatalf("kill %d: the file had to be recovered: %s", done, why)
		}
		n, err := powercutRead(s)
		must(t, s.Close())
		if err != nil {
			t.Fatalf("kill %d: %v", done, err)
		}
		switch {
		case n < last:
			t.Fatalf("kill %d: N went backwards from %d to %d", done, last, n)
		case confirmed > 0 && n != confirmed && n != confirmed+1:
			t.Fatalf("kill %d: file holds N=%d, writer confirmed %d: a confirmed commit was lost or a commit appeared from nowhere", done, n, confirmed)
		case confirmed == 0 && n > last+1:
			t.Fatalf("kill %d: N jumped from %d to %d without a confirmation", done, last, n)
		}
		if !ready {
			beforeReady++
		} else if n > last {
			midWrite++
		}
		last = n
		done++
	}
	info, err := os.Stat(path)
	must(t, err)
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", info.Mode().Perm())
	}
	t.Logf("%d kills (%d during start-up/open, %d after commits), final N=%d, file %d bytes", done, beforeReady, midWrite, last, info.Size())
	if done < minKills || midWrite < minKills/2 {
		t.Fatalf("only %d kills (%d mid-write) in %v: too few to prove anything", done, midWrite, budget)
	}
}

// powercutRound starts one writer, kills it at a random point and returns
// the last N it confirmed and whether it got as far as its write loop.
func powercutRound(t *testing.T, path string, rng *rand.Rand) (confirmed uint64, ready bool, stderr string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	must(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, helperEnv+"_ROLE=writer")
	cmd.ExtraFiles = []*os.File{pw}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdin, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	_ = pw.Close()

	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	handle := func(l string) {
		switch {
		case strings.HasPrefix(l, "ready"):
			ready = true
		case strings.HasPrefix(l, "error"):
			t.Errorf("writer: %s", l)
		default:
			if v, err := strconv.ParseUint(l, 10, 64); err == nil {
				confirmed = v
			}
		}
	}
	// Random kill points are the point of the test, so this waits on the
	// wall clock on purpose. One round in five is killed anywhere from exec
	// to the first commits (process start, bbolt open, verification,
	// migration); the rest after 0–3 confirmed commits plus 0–4 ms, which
	// spreads the kills over building, writing, syncing and reporting the
	// next transaction (a commit takes a few ms, most of it fdatasync).
	if rng.IntN(5) == 0 {
		time.Sleep(time.Duration(rng.IntN(60_000)) * time.Microsecond)
	} else {
		timeout := time.After(20 * time.Second)
		want, start := uint64(rng.IntN(4)), uint64(0)
	wait:
		for !ready || confirmed < start+want {
			select {
			case l, ok := <-lines:
				if !ok {
					break wait
				}
				handle(l)
				if strings.HasPrefix(l, "ready") {
					start, _ = strconv.ParseUint(strings.TrimPrefix(l, "ready "), 10, 64)
					confirmed = start
				}
			case <-timeout:
				t.Fatalf("writer made no progress in 20 s; stderr:\n%s", errBuf.String())
			}
		}
		time.Sleep(time.Duration(rng.IntN(4_000)) * time.Microsecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	_ = stdin.Close()
	for l := range lines { // everything the writer printed before it died
		handle(l)
	}
	_ = pr.Close()
	return confirmed, ready, errBuf.String()
}
