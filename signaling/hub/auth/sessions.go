package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"tether/internal/login"
)

// Session is a logged-in account. The token itself is never stored: the
// session is found by the SHA-256 of the token, so a copy of the data file
// yields no live tokens.
type Session struct {
	Account   string    `json:"account"`
	Role      Role      `json:"role"`
	DeviceID  string    `json:"deviceId,omitempty"`
	RoomID    string    `json:"roomId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type sessionRecord = Session

// tokenLen is 256 bits of randomness.
const tokenLen = 32

// maxTokenLen bounds what Verify looks at (a base64url 32-byte token is 43).
const maxTokenLen = 128

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Login checks the password and starts a session. It answers
// ErrInvalidCredentials for an unknown name and a wrong password alike,
// after the same argon2id work. Rate limiting is the caller's
// (login.Limiter); login.ErrBusy means the hashing gate's queue was full.
func (s *Store) Login(name, password string) (Session, string, error) {
	r, found, err := s.db.account(name)
	if err != nil {
		return Session{}, "", err
	}
	hash := s.dummy
	if found {
		h, err := login.ParsePHC(r.Hash)
		if err != nil {
			return Session{}, "", fmt.Errorf("auth: account %q: %w", name, err)
		}
		hash = h
	}
	ok, err := login.Hasher{}.Verify(password, hash)
	if err != nil {
		return Session{}, "", fmt.Errorf("auth: login: %w", err)
	}
	if !found || !ok {
		return Session{}, "", ErrInvalidCredentials
	}
	raw := make([]byte, tokenLen)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, "", fmt.Errorf("auth: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := s.clk.Now().UTC()
	sess := Session{Account: r.Name, Role: r.Role, DeviceID: r.DeviceID, RoomID: r.RoomID,
		CreatedAt: now, ExpiresAt: now.Add(s.ttl(r.Role))}
	if err := s.db.putSession(tokenKey(token), sess); err != nil {
		return Session{}, "", fmt.Errorf("auth: store session: %w", err)
	}
	s.log.Info("login", "account", name, "expires", sess.ExpiresAt)
	return sess, token, nil
}

// Verify returns the token's session and, when slide is set, moves its
// expiry to now + SessionTTL (session:verify's sliding extension). An
// unknown, expired or revoked token is ErrSessionExpired; an expired one is
// deleted.
//
// The expiry is only written when it would move by at least
// slideGranularity (an hour, or a tenth of a short TTL): a reconnect storm
// of many devices then costs reads, not one fsync'd commit per device.
func (s *Store) Verify(token string, slide bool) (Session, error) {
	if token == "" || len(token) > maxTokenLen {
		return Session{}, ErrSessionExpired
	}
	key := tokenKey(token)
	now := s.clk.Now().UTC()
	sess, found, a, aok, err := s.db.session(key)
	if err != nil {
		return Session{}, err
	}
	// An account removed, or revoked after the session began, or a
	// session past its expiry: dead.
	live := aok && now.Before(sess.ExpiresAt) && !a.RevokedAt.After(sess.CreatedAt)
	gran := min(time.Hour, s.cfg.SessionTTL/10)
	newExp := now.Add(s.cfg.SessionTTL)
	switch {
	case !found:
		return Session{}, ErrSessionExpired
	case !live:
		if err := s.db.deleteSession(key); err != nil {
			return Session{}, err
		}
		return Session{}, ErrSessionExpired
	case !slide || sess.Role == RoleOperator || newExp.Sub(sess.ExpiresAt) < gran:
		return sess, nil
	}
	// Slide a live session; the backend checks again as it writes (a
	// revocation may have come in between).
	sess.ExpiresAt = newExp
	ok, err := s.db.slideSession(key, sess)
	if err != nil {
		return Session{}, err
	}
	if !ok {
		return Session{}, ErrSessionExpired
	}
	return sess, nil
}

// Logout ends one session.
func (s *Store) Logout(token string) error { return s.db.deleteSession(tokenKey(token)) }

// PruneSessions deletes expired sessions and returns how many.
func (s *Store) PruneSessions() (int, error) { return s.db.pruneSessions(s.clk.Now()) }

// IsSessionExpired reports whether err means the token is no good.
func IsSessionExpired(err error) bool { return errors.Is(err, ErrSessionExpired) }
