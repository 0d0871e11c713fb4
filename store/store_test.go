package store

import (
	"tether/internal/login"
	"tether/internal/testenv"

	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// testOptions keep argon2 cheap (stored hashes carry their own parameters, so
// this does not weaken anything the tests check) and the clock fixed.
func testOptions(t testing.TB) (Options, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	return Options{
		Clock:       clk,
		Argon2:      testenv.KDF,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		LockTimeout: 200 * time.Millisecond,
	}, clk
}

// backends runs fn against a file store and a memory store so that NewMem is
// held to the same behaviour.
func backends(t *testing.T, opts Options, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("bolt", func(t *testing.T) {
		s, err := Open(filepath.Join(t.TempDir(), "state.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s)
	})
	t.Run("mem", func(t *testing.T) {
		s := NewMem(opts)
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s)
	})
}

func TestSession(t *testing.T) {
	opts, clk := testOptions(t)
	backends(t, opts, func(t *testing.T, s *Store) {
		if _, err := s.Session(); !errors.Is(err, ErrNoSession) {
			t.Fatalf("fresh store: Session err = %v, want ErrNoSession", err)
		}
		exp := clk.Now().Add(24 * time.Hour)
		in := Session{Token: "tok-1", ExpiresAt: exp, DeviceID: "dev-7", RoomID: "room-3", HubURL: "https://hub.example"}
		if err := s.SetSession(in); err != nil {
			t.Fatal(err)
		}
		got, err := s.Session()
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.SavedAt = clk.Now()
		if !got.ExpiresAt.Equal(want.ExpiresAt) || !got.SavedAt.Equal(want.SavedAt) {
			t.Fatalf("times: got %+v want %+v", got, want)
		}
		got.ExpiresAt, got.SavedAt, want.ExpiresAt, want.SavedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != want {
			t.Fatalf("Session = %+v, want %+v", got, want)
		}
		if got, _ := s.Session(); got.Expired(clk.Now()) || !got.Expired(exp) {
			t.Fatalf("Expired wrong around %v", exp)
		}
		id, err := s.Identity()
		if err != nil || id.DeviceID != "dev-7" || len(id.InstallID) != 32 {
			t.Fatalf("Identity = %+v, %v; want device dev-7 and a 128-bit install id", id, err)
		}
		if err := s.ClearSession(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(); !errors.Is(err, ErrNoSession) {
			t.Fatalf("after ClearSession: %v", err)
		}
		if id2, _ := s.Identity(); id2 != id {
			t.Fatalf("ClearSession changed identity: %+v → %+v", id, id2)
		}
		if err := s.ClearSession(); err != nil {
			t.Fatalf("second ClearSession: %v", err)
		}
	})
}

func TestSessionRejects(t *testing.T) {
	opts, _ := testOptions(t)
	s := NewMem(opts)
	for _, tc := range []struct {
		name string
		in   Session
	}{
		{"empty token", Session{}},
		{"newline", Session{Token: "a\nb"}},
		{"huge", Session{Token: strings.Repeat("x", 9000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetSession(tc.in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := s.Session(); !errors.Is(err, ErrNoSession) {
		t.Fatalf("rejected sessions were stored: %v", err)
	}
}

func TestSettings(t *testing.T) {
	opts, _ := testOptions(t)
	backends(t, opts, func(t *testing.T, s *Store) {
		if got, err := s.Settings(); err != nil || got != (Settings{}) {
			t.Fatalf("fresh Settings = %+v, %v; want zero", got, err)
		}
		err := s.UpdateSettings(func(st *Settings) error {
			st.HubURL, st.RoomID, st.Width, st.Height, st.BitrateKbps = "https://h", "r1", 1280, 720, 2500
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if err := s.UpdateSettings(func(st *Settings) error { st.RoomID = "lost"; return boom }); !errors.Is(err, boom) {
			t.Fatalf("fn error not returned: %v", err)
		}
		if err := s.UpdateSettings(func(st *Settings) error { st.FPS = -1; return nil }); !errors.Is(err, ErrInvalid) {
			t.Fatalf("invalid fps: %v", err)
		}
		got, err := s.Settings()
		want := Settings{HubURL: "https://h", RoomID: "r1", Width: 1280, Height: 720, BitrateKbps: 2500}
		if err != nil || got != want {
			t.Fatalf("Settings = %+v, %v; want %+v (failed updates must write nothing)", got, err, want)
		}
	})
}

func TestLinkState(t *testing.T) {
	opts, clk := testOptions(t)
	opts.HistoryLimit = 3
	backends(t, opts, func(t *testing.T, s *Store) {
		if err := s.RecordTransport(TransportPolling); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
		if err := s.RecordTransport(TransportWebSocket); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordICEPath("relay"); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []error{s.RecordTransport("carrier-pigeon"), s.RecordTransport(TransportNone), s.RecordICEPath("moon"), s.RecordICEPath("")} {
			if !errors.Is(bad, ErrInvalid) {
				t.Fatalf("bad value accepted: %v", bad)
			}
		}
		for i, c := range []Counter{CounterSocketReconnect, CounterSocketReconnect, CounterICERestart, CounterCustomerChange} {
			if _, err := s.IncrCounter(c, fmt.Sprintf("d%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.IncrCounter(Counter(99), ""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("unknown counter: %v", err)
		}
		if n, _ := s.IncrCounter(CounterSocketReconnect, "d4"); n != 3 {
			t.Fatalf("IncrCounter returned %d, want 3", n)
		}
		if err := s.RecordError("socket", "dial tcp: refused"); err != nil {
			t.Fatal(err)
		}
		ls, err := s.LinkState()
		if err != nil {
			t.Fatal(err)
		}
		if ls.Transport != TransportWebSocket || !ls.TransportAt.Equal(clk.Now()) || ls.ICEPath != "relay" {
			t.Fatalf("transport/path: %+v", ls)
		}
		if ls.SocketReconnects != 3 || ls.ICERestarts != 1 || ls.CustomerChanges != 1 {
			t.Fatalf("counters: %+v", ls)
		}
		if ls.LastError != "dial tcp: refused" || ls.LastErrorComponent != "socket" || !ls.LastErrorAt.Equal(clk.Now()) {
			t.Fatalf("last error: %+v", ls)
		}
		h, err := s.History(10)
		if err != nil {
			t.Fatal(err)
		}
		// 6 entries written, ring of 3 keeps the newest.
		var kinds []string
		for _, e := range h {
			kinds = append(kinds, fmt.Sprintf("%d:%s:%s", e.Seq, e.Kind, e.Detail))
		}
		want := "4:customer_change:d3 5:socket_reconnect:d4 6:error:socket: dial tcp: refused"
		if strings.Join(kinds, " ") != want {
			t.Fatalf("history = %q, want %q", strings.Join(kinds, " "), want)
		}
	})
}

func TestEventsRing(t *testing.T) {
	opts, clk := testOptions(t)
	opts.EventLimit = 5
	backends(t, opts, func(t *testing.T, s *Store) {
		if ev, err := s.Events(10); err != nil || len(ev) != 0 {
			t.Fatalf("fresh Events = %v, %v", ev, err)
		}
		if err := s.AppendEvent(Event{From: "a"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("event without component: %v", err)
		}
		for i := 1; i <= 12; i++ {
			clk.Advance(time.Second)
			if err := s.AppendEvent(Event{Component: "socket", From: fmt.Sprint(i - 1), To: fmt.Sprint(i), Detail: strings.Repeat("x", 5000)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct{ n, want, first int }{{100, 5, 8}, {3, 3, 10}, {1, 1, 12}, {0, 0, 0}, {-1, 0, 0}} {
			t.Run(fmt.Sprint("n=", tc.n), func(t *testing.T) {
				ev, err := s.Events(tc.n)
				if err != nil || len(ev) != tc.want {
					t.Fatalf("Events(%d) = %d events, %v; want %d", tc.n, len(ev), err, tc.want)
				}
				for i, e := range ev {
					seq := uint64(tc.first + i)
					if e.Seq != seq || e.To != fmt.Sprint(seq) || e.Component != "socket" || len(e.Detail) != maxDetailLen {
						t.Fatalf("event %d = %+v, want seq %d with clipped detail", i, e, seq)
					}
				}
				if len(ev) > 0 && !ev[len(ev)-1].Time.Equal(clk.Now()) {
					t.Fatalf("last event time %v, want %v", ev[len(ev)-1].Time, clk.Now())
				}
			})
		}
	})
}

func TestEventLimitShrinks(t *testing.T) {
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	opts.EventLimit = 50
	s := mustOpen(t, path, opts)
	for i := 0; i < 50; i++ {
		if err := s.AppendEvent(Event{Component: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	opts.EventLimit = 10
	s = mustOpen(t, path, opts)
	defer s.Close()
	if err := s.AppendEvent(Event{Component: "c"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = s.view(func(tx kvTx) error {
		return tx.bucket(bucketEvents).forEach(func(k, v []byte) error { n++; return nil })
	})
	if n != 10 {
		t.Fatalf("after shrinking the limit the ring holds %d keys, want 10", n)
	}
}

func TestSetupPassword(t *testing.T) {
	opts, _ := testOptions(t)
	backends(t, opts, func(t *testing.T, s *Store) {
		if ok, err := s.HasSetupPassword(); ok || err != nil {
			t.Fatalf("fresh HasSetupPassword = %v, %v", ok, err)
		}
		if _, err := s.CheckSetupPassword("x"); !errors.Is(err, ErrNoPassword) {
			t.Fatalf("Check without password: %v", err)
		}
		if err := s.SetSetupPassword(""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty password: %v", err)
		}
		if err := s.SetSetupPassword("correct horse"); err != nil {
			t.Fatal(err)
		}
		for pw, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false, "Correct horse": false} {
			if ok, err := s.CheckSetupPassword(pw); ok != want || err != nil {
				t.Fatalf("Check(%q) = %v, %v; want %v", pw, ok, err, want)
			}
		}
		var raw []byte
		_ = s.view(func(tx kvTx) error { raw = bytes.Clone(tx.bucket(bucketSetup).get([]byte(keyPassword))); return nil })
		if bytes.Contains(raw, []byte("correct horse")) || !bytes.Contains(raw, []byte(`"alg":"argon2id"`)) {
			t.Fatalf("stored record %s holds the password or is not argon2id", raw)
		}
		if err := s.ClearSetupPassword(); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.HasSetupPassword(); ok {
			t.Fatal("password still set after Clear")
		}
	})
}

func TestSetupPasswordDefaultParams(t *testing.T) {
	// The production parameters, once, so a bad default cannot hide behind
	// the cheap test parameters.
	opts, _ := testOptions(t)
	opts.Argon2 = login.Params{}
	s := NewMem(opts)
	if err := s.SetSetupPassword("pw"); err != nil {
		t.Fatal(err)
	}
	rec, err := s.passwordRecord()
	if err != nil || rec.MemoryKiB != login.DefaultParams.MemoryKiB || rec.Time != login.DefaultParams.Time {
		t.Fatalf("record %+v, %v; want default parameters", rec, err)
	}
	if ok, _ := s.CheckSetupPassword("pw"); !ok {
		t.Fatal("default-parameter hash does not verify")
	}
	opts.Argon2 = login.Params{Time: 1, MemoryKiB: 1 << 30, Threads: 1}
	if err := NewMem(opts).SetSetupPassword("pw"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("absurd parameters: %v", err)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	opts, _ := testOptions(t)
	opts.HardwareID = "serial-1"
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s := mustOpen(t, path, opts)
	if err := s.SetSession(Session{Token: "t", DeviceID: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(Event{Component: "c", To: "x"}); err != nil {
		t.Fatal(err)
	}
	id1, _ := s.Identity()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(); !errors.Is(err, ErrClosed) {
		t.Fatalf("use after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v; want 0600", info.Mode(), err)
	}

	opts.HardwareID = "serial-2" // SD card moved to another board
	s = mustOpen(t, path, opts)
	defer s.Close()
	if ok, _ := s.Recovered(); ok {
		t.Fatal("healthy file reported as recovered")
	}
	id2, _ := s.Identity()
	if id2.InstallID != id1.InstallID || id2.HardwareID != "serial-2" || id2.DeviceID != "d" {
		t.Fatalf("identity %+v after reopen, was %+v", id2, id1)
	}
	if sess, err := s.Session(); err != nil || sess.Token != "t" {
		t.Fatalf("session lost: %+v %v", sess, err)
	}
	if ev, err := s.Events(5); err != nil || len(ev) != 1 || ev[0].To != "x" {
		t.Fatalf("events lost: %+v %v", ev, err)
	}
	if v, err := s.SchemaVersion(); v != currentSchema || err != nil {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
}

func TestFileModeTightened(t *testing.T) {
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	_ = mustOpen(t, path, opts).Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path, opts)
	defer s.Close()
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after reopen, want 0600", info.Mode().Perm())
	}
}

func TestCorruptRecords(t *testing.T) {
	opts, _ := testOptions(t)
	backends(t, opts, func(t *testing.T, s *Store) {
		put := func(bucket, key string, raw []byte) {
			t.Helper()
			if err := s.update(func(tx kvTx) error { return tx.bucket(bucket).put([]byte(key), raw) }); err != nil {
				t.Fatal(err)
			}
		}
		put(bucketSettings, keySettings, []byte(`{"v":1,"width":`))
		put(bucketSession, keySession, []byte(`{"token":"t"}`))
		put(bucketLink, keyLink, []byte(`{"v":1,"transport":"smoke"}`))
		put(bucketSetup, keyPassword, []byte(`{"v":1,"alg":"argon2id","t":1,"m":4000000,"p":1}`))
		put(bucketEvents, string(seqKey(1)), []byte(`{"v":1,"component":"a"}`))
		put(bucketEvents, string(seqKey(2)), []byte(`garbage`))
		put(bucketEvents, string(seqKey(3)), []byte(`{"v":9,"component":"c"}`))

		for name, err := range map[string]error{
			"settings/settings": second(s.Settings()),
			"session/session":   second(s.Session()),
			"link/link":         second(s.LinkState()),
			"setup/password":    second(s.CheckSetupPassword("x")),
		} {
			if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: err = %v, want ErrCorruptRecord naming the key", name, err)
			}
		}
		ev, err := s.Events(10)
		if !errors.Is(err, ErrCorruptRecord) || len(ev) != 1 || ev[0].Component != "a" {
			t.Fatalf("Events = %+v, %v; want the good one plus ErrCorruptRecord", ev, err)
		}
		if !strings.Contains(err.Error(), "events/0000000000000002") {
			t.Fatalf("error does not name the key: %v", err)
		}
		// Writers repair damaged records instead of failing forever.
		if err := s.UpdateSettings(func(st *Settings) error { st.RoomID = "r"; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.IncrCounter(CounterICERestart, ""); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Settings(); err != nil || st.RoomID != "r" {
			t.Fatalf("settings not repaired: %+v %v", st, err)
		}
		if ls, err := s.LinkState(); err != nil || ls.ICERestarts != 1 {
			t.Fatalf("link state not repaired: %+v %v", ls, err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func mustOpen(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConcurrentUse(t *testing.T) {
	opts, _ := testOptions(t)
	opts.EventLimit = 1000
	backends(t, opts, func(t *testing.T, s *Store) {
		const writers, each = 4, 25
		errs := make(chan error, writers*2)
		for w := 0; w < writers; w++ {
			go func() {
				for i := 0; i < each; i++ {
					if err := s.AppendEvent(Event{Component: fmt.Sprint("w", w)}); err != nil {
						errs <- err
						return
					}
					if _, err := s.IncrCounter(CounterICERestart, ""); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
			go func() {
				for i := 0; i < each; i++ {
					if _, err := s.Events(10); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for i := 0; i < writers*2; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		ev, err := s.Events(1000)
		if err != nil || len(ev) != writers*each {
			t.Fatalf("%d events, %v", len(ev), err)
		}
		for i, e := range ev {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
		}
		if ls, _ := s.LinkState(); ls.ICERestarts != writers*each {
			t.Fatalf("counter %d, want %d (lost updates)", ls.ICERestarts, writers*each)
		}
	})
}
