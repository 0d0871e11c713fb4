package auth

import (
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// LimiterConfig bounds wrong passwords. Zero fields take the defaults.
type LimiterConfig struct {
	// PerUser failures within Window lock that username (default 5).
	PerUser int
	// PerAddr failures within Window lock that client address (default 20).
	PerAddr int
	// Window is how long failures count (default 15 min).
	Window time.Duration
	// MaxKeys bounds the memory the limiter uses (default 100000 keys);
	// when full, entries whose window ended are dropped first, then new
	// keys are not tracked (the per-address limit still holds for known
	// addresses).
	MaxKeys int
	Clock   clock.Clock
}

// Limiter counts failed logins per username and per client address in a
// fixed window that starts at the first failure. It is in memory only: a
// hub restart forgives everyone, which is acceptable because argon2id
// already makes each guess expensive.
type Limiter struct {
	cfg LimiterConfig
	mu  sync.Mutex // guards m
	m   map[string]*window
}

type window struct {
	start time.Time
	fails int
}

// NewLimiter builds a Limiter.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.PerUser <= 0 {
		cfg.PerUser = 5
	}
	if cfg.PerAddr <= 0 {
		cfg.PerAddr = 20
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100000
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	return &Limiter{cfg: cfg, m: map[string]*window{}}
}

// Allow reports whether a login for user from addr may be tried now; when
// not, it returns how long until it may.
func (l *Limiter) Allow(user, addr string) (time.Duration, bool) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range [...]struct {
		key   string
		limit int
	}{{"u:" + user, l.cfg.PerUser}, {"a:" + addr, l.cfg.PerAddr}} {
		w := l.m[k.key]
		if w == nil {
			continue
		}
		end := w.start.Add(l.cfg.Window)
		if !now.Before(end) {
			delete(l.m, k.key)
			continue
		}
		if w.fails >= k.limit && end.Sub(now) > wait {
			wait = end.Sub(now)
		}
	}
	return wait, wait == 0
}

// Fail records a wrong password.
func (l *Limiter) Fail(user, addr string) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range [...]string{"u:" + user, "a:" + addr} {
		w := l.m[key]
		if w != nil && !now.Before(w.start.Add(l.cfg.Window)) {
			w = nil
		}
		if w == nil {
			if len(l.m) >= l.cfg.MaxKeys {
				l.sweep(now)
				if len(l.m) >= l.cfg.MaxKeys {
					continue
				}
			}
			w = &window{start: now}
			l.m[key] = w
		}
		w.fails++
	}
}

// Succeed forgets the username's failures (a correct password); the
// address's stay, so one good account does not launder guesses at others.
func (l *Limiter) Succeed(user string) {
	l.mu.Lock()
	delete(l.m, "u:"+user)
	l.mu.Unlock()
}

func (l *Limiter) sweep(now time.Time) {
	for k, w := range l.m {
		if !now.Before(w.start.Add(l.cfg.Window)) {
			delete(l.m, k)
		}
	}
}
