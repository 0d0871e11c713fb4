package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
)

func openTest(t *testing.T, path string, clk clockwork.Clock) *Store {
	t.Helper()
	s, err := Open(Config{Path: path, KDF: testenv.KDF, SessionTTL: 30 * 24 * time.Hour, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMock() *clockwork.FakeClock {
	m := clockwork.NewFakeClockAt(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	return m
}

func TestAddAccount(t *testing.T) { forBackends(t, testAddAccount) }

func testAddAccount(t *testing.T, b testBackend) {
	s := b.open(t, "hub", newMock())
	defer s.Close()
	if _, err := s.AddAccount("counter-1", "secret-pw", RoleCounter, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pw, room string
		role                 Role
		want                 error
	}{
		{"duplicate name", "counter-1", "secret-pw", "", RoleCounter, ErrExists},
		{"room taken", "counter-2", "secret-pw", "counter-1", RoleCounter, ErrExists},
		{"short password", "counter-3", "short", "", RoleCounter, ErrBadInput},
		{"bad name", "a b", "secret-pw", "", RoleCounter, ErrBadInput},
		{"bad room", "counter-4", "secret-pw", "x/y", RoleCounter, ErrBadInput},
		{"operator with room", "op", "secret-pw", "r", RoleOperator, ErrBadInput},
		{"bad role", "x", "secret-pw", "", Role("admin"), ErrBadInput},
		{"ok second counter", "counter-2", "secret-pw", "lobby", RoleCounter, nil},
		{"ok operator", "op", "secret-pw", "", RoleOperator, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.AddAccount(tt.user, tt.pw, tt.role, tt.room)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	list, err := s.Accounts()
	if err != nil || len(list) != 3 {
		t.Fatalf("accounts %v %v", list, err)
	}
	a, err := s.RoomOwner("lobby")
	if err != nil || a.Name != "counter-2" || a.DeviceID != "dev-counter-2" {
		t.Fatalf("room owner %+v %v", a, err)
	}
}

func TestLoginVerifySlideRevoke(t *testing.T) { forBackends(t, testLoginVerifySlideRevoke) }

func testLoginVerifySlideRevoke(t *testing.T, b testBackend) {
	clk := newMock()
	s := b.open(t, "hub", clk)
	if _, err := s.AddAccount("c1", "password-1", RoleCounter, "room-1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, pw string }{{"c1", "wrong-password"}, {"nobody", "password-1"}, {"c1", ""}} {
		if _, _, err := s.Login(tc.user, tc.pw); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("login %v: %v", tc, err)
		}
	}
	sess, token, err := s.Login("c1", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || sess.DeviceID != "dev-c1" || sess.RoomID != "room-1" || !sess.ExpiresAt.Equal(clk.Now().Add(30*24*time.Hour)) {
		t.Fatalf("session %+v token %q", sess, token)
	}
	// Sliding: 20 days later a verify moves the expiry to 50 days from login.
	clk.Advance(20 * 24 * time.Hour)
	v, err := s.Verify(token, true)
	if err != nil || !v.ExpiresAt.Equal(clk.Now().Add(30*24*time.Hour)) {
		t.Fatalf("verify %+v %v", v, err)
	}
	// A check without slide leaves it.
	clk.Advance(29 * 24 * time.Hour)
	if _, err := s.Verify(token, false); err != nil {
		t.Fatalf("verify before expiry: %v", err)
	}
	clk.Advance(2 * 24 * time.Hour)
	if _, err := s.Verify(token, true); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("verify after expiry: %v", err)
	}
	for _, bad := range []string{"", "garbage", string(bytes.Repeat([]byte("x"), 500))} {
		if _, err := s.Verify(bad, true); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("verify %q: %v", bad, err)
		}
	}

	// Revocation kills every session of the account; a new login works.
	_, t1, _ := s.Login("c1", "password-1")
	_, t2, _ := s.Login("c1", "password-1")
	n, err := s.Revoke("c1")
	if err != nil || n != 2 {
		t.Fatalf("revoke %d %v", n, err)
	}
	for _, tok := range []string{t1, t2} {
		if _, err := s.Verify(tok, true); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("verify revoked: %v", err)
		}
	}
	_, t3, err := s.Login("c1", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}

	// Restart: the session and the secrets survive; the file holds no token.
	sec, _ := s.Secret("turn")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if raw := b.dump("hub"); len(raw) == 0 || bytes.Contains(raw, []byte(t3)) {
		t.Fatalf("store holds a live token in clear (or nothing: %d bytes)", len(raw))
	}
	s = b.open(t, "hub", clk)
	defer s.Close()
	if _, err := s.Verify(t3, true); err != nil {
		t.Fatalf("verify after restart: %v", err)
	}
	if sec2, _ := s.Secret("turn"); !bytes.Equal(sec, sec2) || len(sec) != 32 {
		t.Fatal("secret changed across restart")
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s := openTest(t, path, newMock())
	defer s.Close()
	_, err := Open(Config{Path: path, KDF: testenv.KDF, LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestPrune(t *testing.T) { forBackends(t, testPrune) }

func testPrune(t *testing.T, b testBackend) {
	clk := newMock()
	s := b.open(t, "hub", clk)
	defer s.Close()
	s.AddAccount("c1", "password-1", RoleCounter, "")
	s.Login("c1", "password-1")
	clk.Advance(10 * 24 * time.Hour)
	_, live, _ := s.Login("c1", "password-1")
	clk.Advance(25 * 24 * time.Hour)
	if n, err := s.PruneSessions(); err != nil || n != 1 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if _, err := s.Verify(live, false); err != nil {
		t.Fatal(err)
	}
}

func TestInvites(t *testing.T) { forBackends(t, testInvites) }

func testInvites(t *testing.T, b testBackend) {
	clk := newMock()
	s := b.open(t, "hub", clk)
	s.AddAccount("c1", "password-1", RoleCounter, "room-1")
	if _, err := s.NewInvite("no-such-room", time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatalf("invite to unknown room: %v", err)
	}
	inv, err := s.NewInvite("room-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := s.NewInvite("room-1", time.Hour)
	if err := s.RevokeInvite(revoked.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.CheckInvite(inv.Code)
	if err != nil || got.RoomID != "room-1" || got.ID != inv.ID {
		t.Fatalf("check %+v %v", got, err)
	}
	tampered := []byte(inv.Code)
	tampered[10] ^= 1
	if tampered[10] == '-' || tampered[10] == '_' {
		tampered[10] = 'A'
	}
	for name, code := range map[string]string{
		"empty": "", "garbage": "!!!", "tampered": string(tampered), "revoked": revoked.Code,
		"too long": string(bytes.Repeat([]byte("A"), MaxInviteCodeLen+1)),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.CheckInvite(code); !errors.Is(err, ErrInviteInvalid) {
				t.Fatalf("check: %v", err)
			}
		})
	}
	// Another hub's secret does not validate our codes.
	other := b.open(t, "other", clk)
	other.AddAccount("c1", "password-1", RoleCounter, "room-1")
	if _, err := other.CheckInvite(inv.Code); !errors.Is(err, ErrInviteInvalid) {
		t.Fatalf("foreign hub accepted: %v", err)
	}
	other.Close()
	// Survives a restart; expires on time.
	s.Close()
	s = b.open(t, "hub", clk)
	defer s.Close()
	if _, err := s.CheckInvite(inv.Code); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	clk.Advance(time.Hour)
	if _, err := s.CheckInvite(inv.Code); !errors.Is(err, ErrInviteInvalid) {
		t.Fatalf("expired: %v", err)
	}
	list, _ := s.Invites("room-1")
	if len(list) != 2 {
		t.Fatalf("invites %v", list)
	}
}

func FuzzParseInviteCode(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(Config{Path: filepath.Join(dir, "hub.db"), KDF: testenv.KDF, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	s.AddAccount("c1", "password-1", RoleCounter, "room-1")
	inv, err := s.NewInvite("room-1", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(inv.Code)
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAHJvb20tMQ")
	f.Add(inv.Code[:len(inv.Code)-2])
	f.Fuzz(func(t *testing.T, code string) {
		got, err := s.CheckInvite(code)
		if err == nil && (code != inv.Code || got.RoomID != "room-1") {
			t.Fatalf("accepted forged code %q as %+v", code, got)
		}
		if err != nil && !errors.Is(err, ErrInviteInvalid) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

func BenchmarkLogin(b *testing.B) {
	for _, k := range []struct {
		name string
		kdf  KDF
	}{{"default", DefaultKDF}, {"test", testenv.KDF}} {
		b.Run(k.name, func(b *testing.B) {
			s, err := Open(Config{Path: filepath.Join(b.TempDir(), "hub.db"), KDF: k.kdf, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.AddAccount("c1", "password-1", RoleCounter, "")
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Login("c1", "password-1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A verify within the slide granularity does not write; one after it does.
func TestVerifySlideGranularity(t *testing.T) { forBackends(t, testVerifySlideGranularity) }

func testVerifySlideGranularity(t *testing.T, b testBackend) {
	clk := newMock()
	s := b.open(t, "hub", clk)
	defer s.Close()
	s.AddAccount("c1", "password-1", RoleCounter, "")
	sess, tok, _ := s.Login("c1", "password-1")
	clk.Advance(30 * time.Minute)
	v, err := s.Verify(tok, true)
	if err != nil || !v.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("within an hour: %v %v (was %v)", v.ExpiresAt, err, sess.ExpiresAt)
	}
	clk.Advance(31 * time.Minute)
	v, err = s.Verify(tok, true)
	if err != nil || !v.ExpiresAt.Equal(clk.Now().Add(30*24*time.Hour)) {
		t.Fatalf("after an hour: %v %v", v.ExpiresAt, err)
	}
	w, _ := s.Verify(tok, false)
	if !w.ExpiresAt.Equal(v.ExpiresAt) {
		t.Fatal("slide not stored")
	}
}

func BenchmarkVerify(b *testing.B) {
	clk := newMock()
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "hub.db"), KDF: testenv.KDF, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.AddAccount("c1", "password-1", RoleCounter, "")
	_, tok, _ := s.Login("c1", "password-1")
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Verify(tok, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clk.Advance(2 * time.Hour) // every verify slides: one commit each
			if _, err := s.Verify(tok, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
