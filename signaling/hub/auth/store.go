package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"
	bolt "go.etcd.io/bbolt"

	"tether/internal/login"
)

// Bucket names; the layout is documented in docs/protocol.md ("Hub state").
var (
	bucketMeta     = []byte("meta")     // secret:<name> → 32 random bytes
	bucketAccounts = []byte("accounts") // name → accountRecord JSON
	bucketSessions = []byte("sessions") // hex(sha256(token)) → sessionRecord JSON
	bucketInvites  = []byte("invites")  // hex(id) → Invite JSON
)

// Defaults for Config fields left zero.
const (
	DefaultSessionTTL  = 30 * 24 * time.Hour
	DefaultOperatorTTL = 12 * time.Hour
	DefaultLockTimeout = 2 * time.Second
)

// Config configures a Store.
type Config struct {
	// Path of the bbolt file (created 0600).
	Path string
	// KDF for new password hashes; zero means DefaultKDF.
	KDF KDF
	// SessionTTL is a session's lifetime after login and after each verify
	// (sliding); default 30 days.
	SessionTTL time.Duration
	// OperatorTTL is an operator session's lifetime (default 12 h, never
	// sliding): a fleet dashboard token is a bearer token in a browser,
	// so it lives a working day, not a month (issue 12).
	OperatorTTL time.Duration
	// LockTimeout bounds the wait for the file lock (ErrLocked after it).
	LockTimeout time.Duration
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Store is the hub's durable state. Its methods are safe for concurrent use.
type Store struct {
	db  *bolt.DB
	cfg Config
	clk clock.Clock
	log *slog.Logger
	// dummy is a hash checked for unknown usernames so a login takes the
	// same time whether or not the account exists.
	dummy login.Hash
}

// Open opens or creates the data file.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("auth: no data file path: %w", ErrBadInput)
	}
	if cfg.KDF == (KDF{}) {
		cfg.KDF = DefaultKDF
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.OperatorTTL <= 0 {
		cfg.OperatorTTL = DefaultOperatorTTL
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = DefaultLockTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: cfg.LockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("auth: open %s: %w", cfg.Path, ErrLocked)
		}
		return nil, fmt.Errorf("auth: open %s: %w", cfg.Path, err)
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
		return nil, fmt.Errorf("auth: init %s: %w", cfg.Path, err)
	}
	dummy, err := login.Hasher{Params: cfg.KDF}.Hash("dummy password")
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, cfg: cfg, clk: cfg.Clock, log: cfg.Logger.With("component", "hub/auth"), dummy: dummy}, nil
}

// Close closes the data file.
func (s *Store) Close() error { return s.db.Close() }

// SessionTTL is the configured session lifetime.
func (s *Store) SessionTTL() time.Duration { return s.cfg.SessionTTL }

// ttl is the session lifetime of a role.
func (s *Store) ttl(r Role) time.Duration {
	if r == RoleOperator {
		return s.cfg.OperatorTTL
	}
	return s.cfg.SessionTTL
}

// Secret returns the named 32-byte secret, creating it on first use. The
// invite signing key and the TURN shared secret live here, so they survive
// a restart and are as private as the data file.
func (s *Store) Secret(name string) ([]byte, error) {
	key := []byte("secret:" + name)
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(key); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(key); v != nil { // another caller won the race
			out = append([]byte(nil), v...)
			return nil
		}
		out = make([]byte, 32)
		if _, err := rand.Read(out); err != nil {
			return err
		}
		return b.Put(key, out)
	})
	if err != nil {
		return nil, fmt.Errorf("auth: secret %s: %w", name, err)
	}
	return out, nil
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
