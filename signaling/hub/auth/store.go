package auth

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/login"
)

// Defaults for Config fields left zero.
const (
	DefaultSessionTTL  = 30 * 24 * time.Hour
	DefaultOperatorTTL = 12 * time.Hour
	DefaultLockTimeout = 2 * time.Second
)

// Config configures a Store.
type Config struct {
	// Path of the bbolt file (created 0600); unused with Redis.
	Path string
	// Redis, when set, keeps the records in Redis instead of a file, so
	// that several hub nodes share them (issue 17): a redis://, rediss://
	// or unix:// URL (redis://host:port/db, unix:///path/redis.sock?db=N).
	Redis string
	// RedisPrefix starts every key (default "tether:"), so that one
	// Redis can hold several clusters.
	RedisPrefix string
	// RedisTimeout bounds one Redis operation (default 2 s): with Redis
	// gone, a login or verify fails after it instead of hanging.
	RedisTimeout time.Duration
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
	Clock       clockwork.Clock
	Logger      *slog.Logger
}

// Store is the hub's durable state. Its methods are safe for concurrent use.
type Store struct {
	db  backend
	cfg Config
	clk clockwork.Clock
	log *slog.Logger
	// dummy is a hash checked for unknown usernames so a login takes the
	// same time whether or not the account exists.
	dummy login.Hash
}

// Open opens or creates the data file, or connects to Redis when
// cfg.Redis is set.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" && cfg.Redis == "" {
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
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var db backend
	var err error
	if cfg.Redis != "" {
		db, err = openRedis(cfg)
	} else {
		db, err = openBolt(cfg.Path, cfg.LockTimeout)
	}
	if err != nil {
		return nil, err
	}
	dummy, err := login.Hasher{Params: cfg.KDF}.Hash("dummy password")
	if err != nil {
		db.close()
		return nil, err
	}
	return &Store{db: db, cfg: cfg, clk: cfg.Clock, log: cfg.Logger.With("component", "hub/auth"), dummy: dummy}, nil
}

// Close closes the data file or the Redis connections.
func (s *Store) Close() error { return s.db.close() }

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
// a restart and are as private as the data file (with Redis: every node of
// the cluster reads the same one).
func (s *Store) Secret(name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	out, err := s.db.secret(name, fresh)
	if err != nil {
		return nil, fmt.Errorf("auth: secret %s: %w", name, err)
	}
	return out, nil
}
