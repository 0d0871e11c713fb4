package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"tether/internal/testenv"
)

func openRedisTest(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(Config{Redis: url, KDF: testenv.KDF, RedisTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two hub nodes on one Redis: one account and one room owner whoever
// races, one secret, and a session made on one node verifies on the other.
func TestRedisTwoNodes(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	a, b := openRedisTest(t, r.URL()), openRedisTest(t, r.URL())
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			_, errs[i] = s.AddAccount(fmt.Sprintf("c%d", i), "password-1", RoleCounter, "shared-room")
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrExists):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d accounts own one room", won)
	}
	sa, _ := a.Secret("invite")
	sb, _ := b.Secret("invite")
	if string(sa) != string(sb) {
		t.Fatal("nodes disagree on the invite secret")
	}
	owner, err := b.RoomOwner("shared-room")
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := a.Login(owner.Name, "password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok, true); err != nil {
		t.Fatalf("verify on the other node: %v", err)
	}
	inv, err := a.NewInvite("shared-room", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CheckInvite(inv.Code); err != nil {
		t.Fatalf("invite on the other node: %v", err)
	}
	if n, err := b.Revoke(owner.Name); err != nil || n != 1 {
		t.Fatalf("revoke on the other node: %d %v", n, err)
	}
	if _, err := a.Verify(tok, false); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("revoked session verified: %v", err)
	}
}

// Redis gone: operations fail with ErrUnavailable within the timeout, not
// hang; Redis back (persisted): sessions and accounts are all there.
func TestRedisRestartPersistence(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	s := openRedisTest(t, r.URL())
	if _, err := s.AddAccount("c1", "password-1", RoleCounter, ""); err != nil {
		t.Fatal(err)
	}
	_, tok, err := s.Login("c1", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	r.Kill()
	if _, err := s.Verify(tok, false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("verify with Redis down: %v", err)
	}
	if _, err := s.Accounts(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("accounts with Redis down: %v", err)
	}
	r.Restart()
	// The client reconnects by itself.
	if _, err := s.Verify(tok, true); err != nil {
		t.Fatalf("verify after a Redis restart: %v", err)
	}
	if list, err := s.Accounts(); err != nil || len(list) != 1 {
		t.Fatalf("accounts after restart: %v %v", list, err)
	}
}

func TestRedisBadURL(t *testing.T) {
	if _, err := Open(Config{Redis: "http://x", KDF: testenv.KDF}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad URL: %v", err)
	}
	dir := t.TempDir()
	if _, err := Open(Config{Redis: "unix://" + dir + "/none.sock", KDF: testenv.KDF, RedisTimeout: 200 * time.Millisecond}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no server: %v", err)
	}
}
