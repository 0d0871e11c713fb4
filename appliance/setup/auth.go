package setup

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// Cookie names. Both are HttpOnly, SameSite=Strict, and Secure over TLS.
const (
	// sessionCookie holds the page session id after the setup-password login.
	sessionCookie = "tether_setup"
	// preCookie binds the CSRF token of the two anonymous POSTs (choose
	// password, log in) to this browser (OWASP "signed double submit").
	preCookie = "tether_pre"
	// csrfHeader carries the CSRF token on every POST.
	csrfHeader = "X-CSRF-Token"
	// maxSessions bounds the session table; the least recently used goes.
	maxSessions = 16
)

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// session is one logged-in browser.
type session struct {
	created, seen time.Time
}

// sessions is the in-memory session table. Sessions do not survive a
// restart of tetherd: the user logs in again, which is the safe default.
type sessions struct {
	mu   sync.Mutex // guards m
	m    map[string]*session
	idle time.Duration
	max  time.Duration
}

func (ss *sessions) create(now time.Time) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.expireLocked(now)
	if len(ss.m) >= maxSessions {
		var oldest string
		for id, s := range ss.m {
			if oldest == "" || s.seen.Before(ss.m[oldest].seen) {
				oldest = id
			}
		}
		delete(ss.m, oldest)
	}
	id := randomID()
	ss.m[id] = &session{created: now, seen: now}
	return id
}

// touch reports whether id is a live session and marks it used.
func (ss *sessions) touch(id string, now time.Time) bool {
	if id == "" {
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return false
	}
	if ss.expired(s, now) {
		delete(ss.m, id)
		return false
	}
	s.seen = now
	return true
}

// valid reports whether id is live without marking it used (the status
// stream checks this; an open page alone must not keep a session alive
// past SessionMax).
func (ss *sessions) valid(id string, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	return ok && !ss.expired(s, now)
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= ss.idle || now.Sub(s.created) >= ss.max
}

func (ss *sessions) expireLocked(now time.Time) {
	for id, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, id)
		}
	}
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

func (ss *sessions) clear() {
	ss.mu.Lock()
	clear(ss.m)
	ss.mu.Unlock()
}

// csrf derives the CSRF token bound to a session id or pre-session cookie:
// HMAC-SHA256 under a key that lives only in this process, so a token cannot
// be forged without the cookie and cannot be read by another site (the
// cookie is HttpOnly and SameSite=Strict; the token only travels in JSON
// answers to same-origin fetches).
func csrfToken(key []byte, kind, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind + ":" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func csrfOK(key []byte, kind, id, got string) bool {
	if id == "" || got == "" {
		return false
	}
	want := csrfToken(key, kind, id)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > 128 {
		return ""
	}
	return c.Value
}

// clientAddr is the peer's IP. X-Forwarded-For is not trusted: the page is
// served directly on the local network, not behind a proxy.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
