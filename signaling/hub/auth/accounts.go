package auth

import (
	"fmt"
	"time"

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
	if err := s.db.addAccount(accountRecord{Account: a, Hash: h.String()}); err != nil {
		return Account{}, err
	}
	s.log.Info("account added", "account", name, "role", role, "room", a.RoomID)
	return a, nil
}

// Accounts lists every account in name order.
func (s *Store) Accounts() ([]Account, error) {
	recs, err := s.db.accounts()
	out := make([]Account, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Account)
	}
	return out, err
}

// Account returns one account.
func (s *Store) Account(name string) (Account, error) {
	r, ok, err := s.db.account(name)
	if err == nil && !ok {
		err = fmt.Errorf("auth: account %q: %w", name, ErrNotFound)
	}
	return r.Account, err
}

// RoomOwner returns the counter account that owns roomID.
func (s *Store) RoomOwner(roomID string) (Account, error) {
	r, ok, err := s.db.roomOwner(roomID)
	if err == nil && !ok {
		err = fmt.Errorf("auth: room %q: %w", roomID, ErrNotFound)
	}
	return r.Account, err
}

// Revoke ends every session of the account at once (they answer
// ErrSessionExpired from now on) and returns how many there were.
func (s *Store) Revoke(name string) (int, error) {
	n, err := s.db.revoke(name, s.clk.Now().UTC())
	if err == nil {
		s.log.Info("account sessions revoked", "account", name, "sessions", n)
	}
	return n, err
}
