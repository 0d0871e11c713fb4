package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"tether/internal/testenv"
)

type syncBuffer = testenv.SyncBuffer

// populated writes a store with one of everything and returns its bytes.
func populated(t *testing.T, path string, opts Options) []byte {
	t.Helper()
	s := mustOpen(t, path, opts)
	must(t, s.SetSession(Session{Token: "tok", DeviceID: "dev"}))
	must(t, s.UpdateSettings(func(st *Settings) error { st.RoomID = "room"; return nil }))
	must(t, s.RecordTransport(TransportWebSocket))
	must(t, s.SetSetupPassword("pw"))
	for i := 0; i < 40; i++ {
		must(t, s.AppendEvent(Event{Component: "socket", To: fmt.Sprint(i), Detail: strings.Repeat("d", 200)}))
	}
	must(t, s.Close())
	raw, err := os.ReadFile(path)
	must(t, err)
	return raw
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecoverCorruptFile(t *testing.T) {
	opts, clk := testOptions(t)
	good := populated(t, filepath.Join(t.TempDir(), "good.db"), opts)
	rng := rand.New(rand.NewPCG(1, 2))
	randomBytes := make([]byte, 64<<10)
	for i := range randomBytes {
		randomBytes[i] = byte(rng.Uint32())
	}
	wrongMagic := bytes.Clone(good)
	for _, off := range []int{16, 4096 + 16} { // meta.magic in both meta pages (page header is 16 bytes)
		copy(wrongMagic[off:], []byte{0xde, 0xad, 0xbe, 0xef})
	}

	newer := filepath.Join(t.TempDir(), "newer.db")
	withBolt(t, newer, func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte(bucketMeta))
		return b.Put([]byte(keySchema), []byte(`{"v":1,"schema":99}`))
	})
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	withBolt(t, foreign, func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("someone-else"))
		return b.Put([]byte("k"), []byte("v"))
	})
	badMeta := filepath.Join(t.TempDir(), "badmeta.db")
	withBolt(t, badMeta, func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte(bucketMeta))
		return b.Put([]byte(keySchema), []byte(`{"v":1,"schema":`))
	})
	read := func(p string) []byte { b, err := os.ReadFile(p); must(t, err); return b }

	for _, tc := range []struct {
		name    string
		content []byte
		reason  string
	}{
		{"random bytes", randomBytes, "corrupt file"},
		{"short garbage", []byte("not a database"), "corrupt file"},
		{"truncated to half", good[:len(good)/2], "truncated"},
		{"truncated to two pages plus", good[:2*4096+100], "truncated"},
		{"truncated to 100 bytes", good[:100], "corrupt file"},
		{"wrong magic", wrongMagic, "invalid"},
		{"schema too new", read(newer), "schema newer"},
		{"foreign layout", read(foreign), "no \"meta\" bucket"},
		{"damaged meta record", read(badMeta), "corrupt record meta/schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.db")
			must(t, os.WriteFile(path, tc.content, 0o600))
			logs := &syncBuffer{}
			o := opts
			o.Logger = slog.New(slog.NewTextHandler(logs, nil))

			s, err := Open(path, o)
			if err != nil {
				t.Fatalf("Open returned %v; a corrupt file must give a fresh store", err)
			}
			defer s.Close()
			ok, reason := s.Recovered()
			moved := path + ".corrupt-" + clk.Now().UTC().Format("20060102T150405Z")
			if !ok || !strings.Contains(reason, moved) || !strings.Contains(reason, tc.reason) {
				t.Fatalf("Recovered() = %v, %q; want true naming %s and %q", ok, reason, moved, tc.reason)
			}
			if got, err := os.ReadFile(moved); err != nil || !bytes.Equal(got, tc.content) {
				t.Fatalf("moved-aside file: %v (equal=%v)", err, bytes.Equal(got, tc.content))
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "component=store") || !strings.Contains(l, "moved_to="+moved) {
				t.Fatalf("log does not say what happened:\n%s", l)
			}
			// The fresh store works and holds defaults.
			if _, err := s.Session(); !errors.Is(err, ErrNoSession) {
				t.Fatalf("fresh store Session: %v", err)
			}
			if st, err := s.Settings(); err != nil || st != (Settings{}) {
				t.Fatalf("fresh store Settings: %+v %v", st, err)
			}
			must(t, s.SetSession(Session{Token: "new"}))
			if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
				t.Fatalf("fresh file mode %v", info.Mode())
			}
		})
	}
}

func withBolt(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, db.Update(fn))
	must(t, db.Close())
}

func TestRecoverRepeatedly(t *testing.T) {
	opts, clk := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	for i := 0; i < 6; i++ {
		must(t, os.WriteFile(path, []byte(fmt.Sprint("junk ", i)), 0o600))
		// Distinct modification times order the pruning.
		must(t, os.Chtimes(path, time.Now(), time.Unix(int64(1000+i), 0)))
		s := mustOpen(t, path, opts)
		must(t, s.Close())
	}
	// Same second, so the names get -1, -2 … suffixes; only the newest
	// keepCorrupt files stay, whatever their names.
	left, _ := filepath.Glob(path + ".corrupt-*")
	var contents []string
	for _, f := range left {
		b, err := os.ReadFile(f)
		must(t, err)
		contents = append(contents, string(b))
	}
	sort.Strings(contents)
	if want := "junk 3,junk 4,junk 5"; strings.Join(contents, ",") != want {
		t.Fatalf("moved-aside files hold %q, want %q", contents, want)
	}
	if !strings.HasPrefix(filepath.Base(left[0]), "state.db.corrupt-"+clk.Now().UTC().Format("20060102T150405Z")) {
		t.Fatalf("name %s", left[0])
	}
}

func TestEmptyFileIsFresh(t *testing.T) {
	// A zero-length file is what a power cut between create and bbolt's
	// first write leaves; bbolt initialises it and nothing is moved aside.
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	must(t, os.WriteFile(path, nil, 0o600))
	s := mustOpen(t, path, opts)
	defer s.Close()
	if ok, _ := s.Recovered(); ok {
		t.Fatal("empty file reported as recovered")
	}
	if v, _ := s.SchemaVersion(); v != currentSchema {
		t.Fatalf("schema %d", v)
	}
}

// TestCorruptionSweep flips bytes all over a populated file. Whatever the
// damage, Open must return a usable store (the old data or a recovered fresh
// one) and no read may panic.
func TestCorruptionSweep(t *testing.T) {
	opts, _ := testOptions(t)
	good := populated(t, filepath.Join(t.TempDir(), "good.db"), opts)
	stride := 173
	if testing.Short() {
		stride = 997
	}
	dir := t.TempDir()
	recovered, intact := 0, 0
	for off := 0; off < len(good); off += stride {
		path := filepath.Join(dir, fmt.Sprintf("s%d.db", off))
		bad := bytes.Clone(good)
		bad[off] ^= 0xff
		if off+1 < len(bad) {
			bad[off+1] ^= 0x5a
		}
		must(t, os.WriteFile(path, bad, 0o600))
		s, err := Open(path, opts)
		if err != nil {
			t.Fatalf("offset %d: Open: %v", off, err)
		}
		if ok, _ := s.Recovered(); ok {
			recovered++
		} else {
			intact++
		}
		_, _ = s.Session()
		_, _ = s.Settings()
		_, _ = s.LinkState()
		_, _ = s.Identity()
		_, _ = s.Events(1000)
		_, _ = s.History(1000)
		_, _ = s.CheckSetupPassword("pw")
		if err := s.AppendEvent(Event{Component: "after"}); err != nil {
			t.Fatalf("offset %d: store not writable after open: %v", off, err)
		}
		must(t, s.Close())
	}
	t.Logf("%d byte flips: %d opened as they were, %d moved aside", recovered+intact, intact, recovered)
	if recovered == 0 {
		t.Fatal("no flip was detected as corruption; the sweep is not reaching the meta pages")
	}
}

func TestLockedInProcess(t *testing.T) {
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpen(t, path, opts)
	defer s.Close()
	_, err := Open(path, opts)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want ErrLocked naming the path", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a locked file must not be moved aside: %v", err)
	}
	if matches, _ := filepath.Glob(path + ".corrupt-*"); len(matches) != 0 {
		t.Fatalf("locked file moved aside: %v", matches)
	}
}

const helperEnv = "TETHER_STORE_HELPER"

// TestHelperLockHolder is not a test: run by TestLockedByOtherProcess as a
// separate process that opens the store, says "locked" and holds it until its
// stdin closes.
func TestHelperLockHolder(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" || os.Getenv(helperEnv+"_ROLE") != "lock" {
		t.Skip("helper process only")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = s.Close()
	os.Exit(0)
}

func TestLockedByOtherProcess(t *testing.T) {
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLockHolder$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, helperEnv+"_ROLE=lock")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	opts.LockTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err = Open(path, opts)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds it: %v, want ErrLocked", err)
	}
	// Not a timing assertion on speed, only that it gave up instead of
	// hanging; the test's own timeout is the backstop.
	t.Logf("gave up after %v: %v", time.Since(start).Round(time.Millisecond), err)
	must(t, stdin.Close())
	must(t, cmd.Wait())
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	must(t, s.Close())
}
