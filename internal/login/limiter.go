package login

import (
	"container/list"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// LimiterConfig bounds password guessing. Zero fields take the defaults.
type LimiterConfig struct {
	// Free is how many wrong passwords one (user, address) pair may send
	// before delays start (default 5). Attempts in flight count, so a
	// burst of concurrent requests gets no more than Free through.
	Free int
	// AddrFree is the same for one address over all users (default 20),
	// against one address trying many usernames.
	AddrFree int
	// Base is the delay after the first failure past the free ones; each
	// further failure doubles it, up to Max (defaults 1 s and 15 min).
	Base, Max time.Duration
	// Forget drops a record this long after its last failure (default
	// 24 h): the counts start afresh.
	Forget time.Duration
	// MaxKeys bounds the table (default 20000 records, ~200 bytes each).
	// When full, the least recently used record with nothing in flight is
	// evicted.
	MaxKeys int
	Clock   clockwork.Clock
}

// Limiter defaults.
const (
	DefaultFree     = 5
	DefaultAddrFree = 20
	DefaultBase     = time.Second
	DefaultMax      = 15 * time.Minute
	DefaultForget   = 24 * time.Hour
	DefaultMaxKeys  = 20000
	// maxUserLen bounds the user part of a key, whatever the caller sends.
	maxUserLen = 128
)

// Limiter throttles password guessing per (user, address) and per address
// with exponentially growing delays (issue 12 item 4). There is no lockout
// of a user from every address: the owner typing the right password from
// an address that has not been failing is let through at once, whatever an
// attack from other addresses is doing. It is in memory only: a restart
// forgives everyone, which is acceptable because argon2id makes each guess
// expensive and the Gate bounds how many run at once.
//
// An attempt is reserved before the password is checked (Reserve) and
// settled afterwards (Fail, Succeed or Release), so concurrent requests
// cannot all pass a check-then-count race (issue 12 item 3).
type Limiter struct {
	cfg LimiterConfig

	mu  sync.Mutex // guards m, lru and every record
	m   map[string]*list.Element
	lru *list.List // of *record, least recently used at the front
}

type record struct {
	key      string
	free     int       // failures allowed before delays start
	fails    int       // failures since the last success or Forget
	inflight int       // reserved, not yet settled
	last     time.Time // last failure
	next     time.Time // no attempt beyond the free ones before this
}

// NewLimiter builds a Limiter.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Free <= 0 {
		cfg.Free = DefaultFree
	}
	if cfg.AddrFree <= 0 {
		cfg.AddrFree = DefaultAddrFree
	}
	if cfg.Base <= 0 {
		cfg.Base = DefaultBase
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Forget <= 0 {
		cfg.Forget = DefaultForget
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &Limiter{cfg: cfg, m: map[string]*list.Element{}, lru: list.New()}
}

// Attempt is one reserved login attempt. Exactly one of Fail, Succeed or
// Release settles it; later calls do nothing.
type Attempt struct {
	l          *Limiter
	pair, addr *record
	done       bool
}

// Reserve takes an attempt for user from addr, or returns nil and how long
// to wait (at least one second, for a whole Retry-After).
func (l *Limiter) Reserve(user, addr string) (*Attempt, time.Duration) {
	if len(user) > maxUserLen {
		user = user[:maxUserLen]
	}
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	pair := l.get("p\x00"+user+"\x00"+addr, l.cfg.Free, now)
	ad := l.get("a\x00"+addr, l.cfg.AddrFree, now)
	wait := max(l.waitLocked(pair, now), l.waitLocked(ad, now))
	if wait > 0 {
		return nil, max(wait, time.Second)
	}
	pair.inflight++
	ad.inflight++
	return &Attempt{l: l, pair: pair, addr: ad}, 0
}

// waitLocked is 0 if r may take one more attempt now.
func (l *Limiter) waitLocked(r *record, now time.Time) time.Duration {
	switch {
	case r.fails+r.inflight < r.free:
		return 0
	case r.inflight > 0:
		// One attempt past the free ones at a time; its outcome decides.
		return l.cfg.Base
	case now.Before(r.next):
		return r.next.Sub(now)
	}
	return 0
}

// get returns the record for key, creating it (and evicting if full).
func (l *Limiter) get(key string, free int, now time.Time) *record {
	if e, ok := l.m[key]; ok {
		r := e.Value.(*record)
		if r.inflight == 0 && r.fails > 0 && now.Sub(r.last) >= l.cfg.Forget {
			r.fails, r.next = 0, time.Time{}
		}
		l.lru.MoveToBack(e)
		return r
	}
	l.trimLocked(1)
	r := &record{key: key, free: free}
	l.m[key] = l.lru.PushBack(r)
	return r
}

// trimLocked evicts the least recently used records with nothing in
// flight until room more fit under MaxKeys. Records in flight cannot go
// (their attempt settles on them), so the table may pass MaxKeys by the
// attempts in flight; settle trims it back once they end.
func (l *Limiter) trimLocked(room int) {
	for e := l.lru.Front(); e != nil && len(l.m)+room > l.cfg.MaxKeys; {
		nx := e.Next()
		if r := e.Value.(*record); r.inflight == 0 {
			l.lru.Remove(e)
			delete(l.m, r.key)
		}
		e = nx
	}
}

// dropIfIdle removes r if it holds nothing worth keeping.
func (l *Limiter) dropIfIdle(r *record) {
	if r.inflight == 0 && r.fails == 0 {
		if e, ok := l.m[r.key]; ok && e.Value.(*record) == r {
			l.lru.Remove(e)
			delete(l.m, r.key)
		}
	}
}

func (l *Limiter) delay(fails, free int) time.Duration {
	n := fails - free
	if n < 0 {
		return 0
	}
	d := l.cfg.Base
	for range n {
		d *= 2
		if d >= l.cfg.Max {
			return l.cfg.Max
		}
	}
	return min(d, l.cfg.Max)
}

// Fail settles a wrong password: both records count it and the next
// attempt past the free ones waits a doubled delay.
func (a *Attempt) Fail() { a.settle(verdictWrong) }

// Succeed settles a right password: the pair's failures are forgotten; the
// address's stay, so one good account does not launder guesses at others.
func (a *Attempt) Succeed() { a.settle(verdictRight) }

// Release gives the attempt back without a verdict (malformed request, a
// busy hashing queue, a store error).
func (a *Attempt) Release() { a.settle(verdictNone) }

type verdict int

const (
	verdictNone verdict = iota
	verdictWrong
	verdictRight
)

func (a *Attempt) settle(v verdict) {
	l := a.l
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	for _, r := range [...]*record{a.pair, a.addr} {
		r.inflight--
		if v == verdictWrong {
			r.fails++
			r.last = now
			r.next = now.Add(l.delay(r.fails, r.free))
		}
	}
	if v == verdictRight {
		a.pair.fails, a.pair.next = 0, time.Time{}
	}
	l.dropIfIdle(a.pair)
	l.dropIfIdle(a.addr)
	l.trimLocked(0) // found by FuzzLimiter: failures settled after a full table kept it over MaxKeys
}

// Len is the number of records held (for tests and metrics).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
