package auth

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"tether/internal/login"
)

// Role is what an account may do.
type Role string

// Account roles.
const (
	// RoleCounter is an appliance at a counter: it owns one room.
	RoleCounter Role = "counter"
	// RoleOperator may read the fleet dashboard; it owns no room.
	RoleOperator Role = "operator"
)

// Account is a login. Counter accounts own exactly one room; the device
// that logs in with it is DeviceID in that room.
type Account struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	RoomID    string    `json:"roomId,omitempty"`
	DeviceID  string    `json:"deviceId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// RevokedAt is the last revocation: sessions made before it are dead.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

type accountRecord struct {
	Account
	Hash string `json:"hash"`
}

// MaxNameLen bounds account names, room ids and display names.
const MaxNameLen = 64

// MinPasswordLen is the shortest password AddAccount accepts.
const MinPasswordLen = 8

// ValidName reports whether s may be an account name or room id: 1..64
// characters from [A-Za-z0-9._-], so it is safe in URLs, logs and metrics.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// AddAccount creates an account. A counter's room defaults to its name and
// must not belong to another counter; its device id is "dev-" + name.
func (s *Store) AddAccount(name, password string, role Role, roomID string) (Account, error) {
	if !ValidName(name) {
		return Account{}, fmt.Errorf("auth: account name %q (1-%d of A-Z a-z 0-9 . _ -): %w", name, MaxNameLen, ErrBadInput)
	}
	if len(password) < MinPasswordLen {
		return Account{}, fmt.Errorf("auth: password shorter than %d: %w", MinPasswordLen, ErrBadInput)
	}
	a := Account{Name: name, Role: role, CreatedAt: s.clk.Now().UTC()}
	switch role {
	case RoleCounter:
		if roomID == "" {
			roomID = name
		}
		if !ValidName(roomID) {
			return Account{}, fmt.Errorf("auth: room id %q: %w", roomID, ErrBadInput)
		}
		a.RoomID, a.DeviceID = roomID, "dev-"+name
	case RoleOperator:
		if roomID != "" {
			return Account{}, fmt.Errorf("auth: an operator owns no room: %w", ErrBadInput)
		}
	default:
		return Account{}, fmt.Errorf("auth: role %q: %w", role, ErrBadInput)
	}
	h, err := login.Hasher{Params: s.cfg.KDF}.Hash(password)
	if err != nil {
		return Account{}, fmt.Errorf("auth: account %q: %w", name, err)
	}
	hash := h.String()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("auth: account %q: %w", name, ErrExists)
		}
		if role == RoleCounter {
			taken := false
			if err := forEachAccount(b, func(o accountRecord) bool {
				taken = o.RoomID == roomID
				return !taken
			}); err != nil {
				return err
			}
			if taken {
				return fmt.Errorf("auth: room %q: %w", roomID, ErrExists)
			}
		}
		return putJSON(b, []byte(name), accountRecord{Account: a, Hash: hash})
	})
	if err != nil {
		return Account{}, err
	}
	s.log.Info("account added", "account", name, "role", role, "room", a.RoomID)
	return a, nil
}

func forEachAccount(b *bolt.Bucket, f func(accountRecord) bool) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r accountRecord
		if err := jsonUnmarshal(v, &r); err != nil {
			return fmt.Errorf("auth: account %q: %w", k, err)
		}
		if !f(r) {
			return nil
		}
	}
	return nil
}

// Accounts lists every account in name order.
func (s *Store) Accounts() ([]Account, error) {
	var out []Account
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachAccount(tx.Bucket(bucketAccounts), func(r accountRecord) bool {
			out = append(out, r.Account)
			return true
		})
	})
	return out, err
}

// Account returns one account.
func (s *Store) Account(name string) (Account, error) {
	var r accountRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketAccounts), []byte(name), &r)
		if err == nil && !ok {
			err = fmt.Errorf("auth: account %q: %w", name, ErrNotFound)
		}
		return err
	})
	return r.Account, err
}

// RoomOwner returns the counter account that owns roomID.
func (s *Store) RoomOwner(roomID string) (Account, error) {
	var out Account
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachAccount(tx.Bucket(bucketAccounts), func(r accountRecord) bool {
			if r.Role == RoleCounter && r.RoomID == roomID {
				out, found = r.Account, true
			}
			return !found
		})
	})
	if err == nil && !found {
		err = fmt.Errorf("auth: room %q: %w", roomID, ErrNotFound)
	}
	return out, err
}

// Revoke ends every session of the account at once (they answer
// ErrSessionExpired from now on) and returns how many there were.
func (s *Store) Revoke(name string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAccounts)
		var r accountRecord
		ok, err := getJSON(ab, []byte(name), &r)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("auth: account %q: %w", name, ErrNotFound)
		}
		r.RevokedAt = s.clk.Now().UTC()
		if err := putJSON(ab, []byte(name), r); err != nil {
			return err
		}
		sb := tx.Bucket(bucketSessions)
		var dead [][]byte
		c := sb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var sr sessionRecord
			if jsonUnmarshal(v, &sr) != nil || sr.Account == name {
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
	if err == nil {
		s.log.Info("account sessions revoked", "account", name, "sessions", n)
	}
	return n, err
}
