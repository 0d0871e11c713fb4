package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names; the layout is documented in docs/protocol.md ("Hub state").
var (
	bucketMeta     = []byte("meta")     // secret:<name> → 32 random bytes
	bucketAccounts = []byte("accounts") // name → accountRecord JSON
	bucketSessions = []byte("sessions") // hex(sha256(token)) → sessionRecord JSON
	bucketInvites  = []byte("invites")  // hex(id) → Invite JSON
)

// boltBackend keeps the records in one bbolt file (one hub node).
type boltBackend struct{ db *bolt.DB }

func openBolt(path string, lockTimeout time.Duration) (*boltBackend, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("auth: open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("auth: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketSessions, bucketInvites} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("auth: init %s: %w", path, err)
	}
	return &boltBackend{db: db}, nil
}

func (b *boltBackend) close() error { return b.db.Close() }

func (b *boltBackend) secret(name string, fresh []byte) ([]byte, error) {
	key := []byte("secret:" + name)
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(key); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketMeta)
		if v := bk.Get(key); v != nil { // another caller won the race
			out = append([]byte(nil), v...)
			return nil
		}
		out = fresh
		return bk.Put(key, out)
	})
	return out, err
}

func (b *boltBackend) addAccount(r accountRecord) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAccounts)
		if bk.Get([]byte(r.Name)) != nil {
			return fmt.Errorf("auth: account %q: %w", r.Name, ErrExists)
		}
		if r.Role == RoleCounter {
			taken := false
			if err := forEachAccount(bk, func(o accountRecord) bool {
				taken = o.RoomID == r.RoomID
				return !taken
			}); err != nil {
				return err
			}
			if taken {
				return fmt.Errorf("auth: room %q: %w", r.RoomID, ErrExists)
			}
		}
		return putJSON(bk, []byte(r.Name), r)
	})
}

func forEachAccount(b *bolt.Bucket, f func(accountRecord) bool) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r accountRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("auth: account %q: %w", k, err)
		}
		if !f(r) {
			return nil
		}
	}
	return nil
}

func (b *boltBackend) account(name string) (accountRecord, bool, error) {
	var r accountRecord
	var ok bool
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketAccounts), []byte(name), &r)
		return err
	})
	return r, ok, err
}

func (b *boltBackend) accounts() ([]accountRecord, error) {
	var out []accountRecord
	err := b.db.View(func(tx *bolt.Tx) error {
		return forEachAccount(tx.Bucket(bucketAccounts), func(r accountRecord) bool {
			out = append(out, r)
			return true
		})
	})
	return out, err
}

func (b *boltBackend) roomOwner(roomID string) (accountRecord, bool, error) {
	var out accountRecord
	found := false
	err := b.db.View(func(tx *bolt.Tx) error {
		return forEachAccount(tx.Bucket(bucketAccounts), func(r accountRecord) bool {
			if r.Role == RoleCounter && r.RoomID == roomID {
				out, found = r, true
			}
			return !found
		})
	})
	return out, found, err
}

func (b *boltBackend) revoke(name string, at time.Time) (int, error) {
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAccounts)
		var r accountRecord
		ok, err := getJSON(ab, []byte(name), &r)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("auth: account %q: %w", name, ErrNotFound)
		}
		r.RevokedAt = at
		if err := putJSON(ab, []byte(name), r); err != nil {
			return err
		}
		sb := tx.Bucket(bucketSessions)
		var dead [][]byte
		c := sb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var sr sessionRecord
			if json.Unmarshal(v, &sr) != nil || sr.Account == name {
				dead = append(dead, append([]byte(nil), k...))
			}
		}
		for _, k := range dead {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}

// sessionTx reads a session and its account in one transaction.
func sessionTx(tx *bolt.Tx, key string) (s Session, found bool, a accountRecord, ok bool, err error) {
	found, err = getJSON(tx.Bucket(bucketSessions), []byte(key), &s)
	if err != nil || !found {
		return s, found, a, false, err
	}
	ok, err = getJSON(tx.Bucket(bucketAccounts), []byte(s.Account), &a)
	return s, found, a, ok, err
}

func (b *boltBackend) session(key string) (s Session, found bool, a accountRecord, ok bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		var err error
		s, found, a, ok, err = sessionTx(tx, key)
		return err
	})
	return s, found, a, ok, err
}

func (b *boltBackend) putSession(key string, s Session) error {
	return b.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketSessions), []byte(key), s) })
}

func (b *boltBackend) slideSession(key string, s Session) (bool, error) {
	stored := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		old, found, a, ok, err := sessionTx(tx, key)
		if err != nil || !found || !ok || a.RevokedAt.After(old.CreatedAt) {
			return err
		}
		stored = true
		return putJSON(tx.Bucket(bucketSessions), []byte(key), s)
	})
	return stored, err
}

func (b *boltBackend) deleteSession(key string) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(key)) })
}

func (b *boltBackend) pruneSessions(now time.Time) (int, error) {
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSessions)
		var dead [][]byte
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r sessionRecord
			if err := json.Unmarshal(v, &r); err != nil || !now.Before(r.ExpiresAt) {
				dead = append(dead, append([]byte(nil), k...))
			}
		}
		for _, k := range dead {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}

func (b *boltBackend) putInvite(inv Invite) error {
	return b.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketInvites), []byte(inv.ID), inv) })
}

func (b *boltBackend) invite(id string) (Invite, bool, error) {
	var inv Invite
	var ok bool
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketInvites), []byte(id), &inv)
		return err
	})
	return inv, ok, err
}

func (b *boltBackend) invites() ([]Invite, error) {
	var out []Invite
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInvites).ForEach(func(k, v []byte) error {
			var inv Invite
			if err := json.Unmarshal(v, &inv); err != nil {
				return fmt.Errorf("auth: invite %q: %w", k, err)
			}
			out = append(out, inv)
			return nil
		})
	})
	return out, err
}

func (b *boltBackend) revokeInvite(id string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketInvites)
		var inv Invite
		ok, err := getJSON(bk, []byte(id), &inv)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("auth: invite %q: %w", id, ErrNotFound)
		}
		inv.Revoked = true
		return putJSON(bk, []byte(id), inv)
	})
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("auth: record %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
