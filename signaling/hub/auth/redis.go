package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is a Redis that cannot be reached or did not answer in
// time: the hub reports itself degraded and keeps what it holds (issue 17).
var ErrUnavailable = errors.New("auth: store unavailable")

// redisBackend keeps the records in Redis, shared by every hub node. Keys
// (after the prefix, default "tether:"):
//
//	secret:<name>            the secret's bytes
//	account:<name>           accountRecord JSON
//	accounts                 sorted set of account names (lexical order)
//	room-owner:<room>        the counter account owning the room
//	session:<hex sha256>     Session JSON (the token itself is never stored)
//	sessions:expiry          sorted set session key → expiry (Unix ms)
//	account-sessions:<name>  set of the account's session keys (revocation)
//	invite:<id>              Invite JSON
//	invites                  sorted set of invite ids
//
// Expiry is the Store's (an injected clock), not Redis TTLs: PruneSessions
// deletes what sessions:expiry says is due. Multi-key changes are Lua
// scripts or MULTI/EXEC under WATCH, so two nodes never half-apply one.
type redisBackend struct {
	c       *redis.Client
	p       string
	timeout time.Duration
}

// redisLog routes go-redis's own messages (pool dial failures while
// Redis is down, retried every few ms) to slog at debug level instead of
// the standard logger: the hub reports a lost Redis once, as degraded.
type redisLog struct{}

func (redisLog) Printf(_ context.Context, format string, v ...any) {
	slog.Debug(fmt.Sprintf(format, v...), "component", "redis")
}

var setLogger sync.Once

// RedisPoolSize is the least number of pooled Redis connections of a
// client (a redis:// URL's pool_size may ask for more).
const RedisPoolSize = 64

// redisBufferSize is the read and the write buffer of each pooled
// connection.
const redisBufferSize = 4096

// NewRedisClient is the one way the hub opens Redis connections (its
// store here, its cluster's adapter): bounded timeouts, one retry, the
// go-redis log in slog.
func NewRedisClient(url, name string, timeout time.Duration) (*redis.Client, error) {
	setLogger.Do(func() { redis.SetLogger(redisLog{}) })
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("auth: redis URL: %v: %w", err, ErrBadInput)
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	opt.MaxRetries = 1
	// A reconnect storm verifies thousands of sessions at once: more
	// connections than go-redis's default (10 per CPU); the hub admits
	// no more look-ups at once than this (its store gate), so none waits
	// for a connection with its deadline running.
	opt.PoolSize = max(opt.PoolSize, RedisPoolSize)
	// The hub's commands and replies are small (a session, an account, an
	// adapter message of a few KiB; larger ones are read through the
	// buffer): go-redis's 32 KiB each way was 8 MiB for two full pools,
	// as much as 2000 idle devices (issue 17 §4).
	if opt.ReadBufferSize == 0 {
		opt.ReadBufferSize = redisBufferSize
	}
	if opt.WriteBufferSize == 0 {
		opt.WriteBufferSize = redisBufferSize
	}
	opt.ClientName = name
	return redis.NewClient(opt), nil
}

func openRedis(cfg Config) (*redisBackend, error) {
	to := cfg.RedisTimeout
	if to <= 0 {
		to = 2 * time.Second
	}
	rc, err := NewRedisClient(cfg.Redis, "tether-hub", to)
	if err != nil {
		return nil, err
	}
	b := &redisBackend{c: rc, p: cfg.RedisPrefix, timeout: to}
	if b.p == "" {
		b.p = "tether:"
	}
	ctx, cancel := b.ctx()
	defer cancel()
	if err := b.c.Ping(ctx).Err(); err != nil {
		b.c.Close()
		return nil, fmt.Errorf("auth: redis %s: %v: %w", rc.Options().Addr, err, ErrUnavailable)
	}
	return b, nil
}

func (b *redisBackend) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), b.timeout)
}

// wrap marks a failed Redis operation unavailable (a connection or a
// timeout), keeping the store's own sentinels.
func wrap(op string, err error) error {
	if err == nil || errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("auth: redis %s: %v: %w", op, err, ErrUnavailable)
}

func (b *redisBackend) close() error { return b.c.Close() }

func (b *redisBackend) secret(name string, fresh []byte) ([]byte, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	k := b.p + "secret:" + name
	if err := b.c.SetNX(ctx, k, fresh, 0).Err(); err != nil {
		return nil, wrap("secret", err)
	}
	out, err := b.c.Get(ctx, k).Bytes()
	return out, wrap("secret", err)
}

// addAccountScript stores an account unless its name or (for a counter)
// its room is taken: 1 name taken, 2 room taken, 0 stored.
var addAccountScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if ARGV[3] ~= '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
  redis.call('SET', KEYS[2], ARGV[1])
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return 0`)

func (b *redisBackend) addAccount(r accountRecord) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	room := ""
	if r.Role == RoleCounter {
		room = r.RoomID
	}
	ctx, cancel := b.ctx()
	defer cancel()
	n, err := addAccountScript.Run(ctx, b.c, []string{b.p + "account:" + r.Name, b.p + "room-owner:" + room, b.p + "accounts"},
		r.Name, raw, room).Int()
	switch {
	case err != nil:
		return wrap("add account", err)
	case n == 1:
		return fmt.Errorf("auth: account %q: %w", r.Name, ErrExists)
	case n == 2:
		return fmt.Errorf("auth: room %q: %w", r.RoomID, ErrExists)
	}
	return nil
}

func (b *redisBackend) account(name string) (accountRecord, bool, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	var r accountRecord
	ok, err := b.getJSON(ctx, b.p+"account:"+name, &r)
	return r, ok, err
}

func (b *redisBackend) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, err := b.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrap("get", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("auth: record %q: %w", key, err)
	}
	return true, nil
}

// list reads the JSON records named by a sorted set, in its order.
func list[T any](b *redisBackend, index, prefix string) ([]T, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	names, err := b.c.ZRange(ctx, b.p+index, 0, -1).Result()
	if err != nil || len(names) == 0 {
		return nil, wrap("list", err)
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = b.p + prefix + n
	}
	vals, err := b.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrap("list", err)
	}
	out := make([]T, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var r T
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return nil, fmt.Errorf("auth: record %q: %w", keys[i], err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *redisBackend) accounts() ([]accountRecord, error) {
	return list[accountRecord](b, "accounts", "account:")
}

func (b *redisBackend) roomOwner(roomID string) (accountRecord, bool, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	name, err := b.c.Get(ctx, b.p+"room-owner:"+roomID).Result()
	if errors.Is(err, redis.Nil) {
		return accountRecord{}, false, nil
	}
	if err != nil {
		return accountRecord{}, false, wrap("room owner", err)
	}
	var r accountRecord
	ok, err := b.getJSON(ctx, b.p+"account:"+name, &r)
	return r, ok && r.Role == RoleCounter && r.RoomID == roomID, err
}

// watched runs an optimistic transaction, again when another node changed
// a watched key in between (a few times; then it is an error).
func (b *redisBackend) watched(op string, f func(ctx context.Context, tx *redis.Tx) error, keys ...string) error {
	ctx, cancel := b.ctx()
	defer cancel()
	var err error
	for range 8 {
		err = b.c.Watch(ctx, func(tx *redis.Tx) error { return f(ctx, tx) }, keys...)
		if !errors.Is(err, redis.TxFailedErr) {
			return wrap(op, err)
		}
	}
	return wrap(op, err)
}

func (b *redisBackend) revoke(name string, at time.Time) (int, error) {
	ak, sk := b.p+"account:"+name, b.p+"account-sessions:"+name
	n := 0
	err := b.watched("revoke", func(ctx context.Context, tx *redis.Tx) error {
		var r accountRecord
		raw, err := tx.Get(ctx, ak).Bytes()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("auth: account %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("auth: record %q: %w", ak, err)
		}
		r.RevokedAt = at
		if raw, err = json.Marshal(r); err != nil {
			return err
		}
		keys, err := tx.SMembers(ctx, sk).Result()
		if err != nil {
			return err
		}
		var dels []*redis.IntCmd
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, ak, raw, 0)
			for _, k := range keys {
				dels = append(dels, p.Del(ctx, b.p+"session:"+k))
			}
			if len(keys) > 0 {
				p.ZRem(ctx, b.p+"sessions:expiry", toAny(keys)...)
			}
			p.Del(ctx, sk)
			return nil
		})
		n = 0
		for _, d := range dels {
			n += int(d.Val())
		}
		return err
	}, ak, sk)
	return n, err
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// sessionScript reads a session and its account in one round trip (a
// connect's only store work; two sequential GETs doubled the time each
// connect held a pooled connection in a reconnect storm). It returns
// {session} or {session, account}; nil when there is no session.
var sessionScript = redis.NewScript(`
local s = redis.call('GET', KEYS[1])
if not s then return false end
local ok, d = pcall(cjson.decode, s)
if not ok or type(d) ~= 'table' or type(d.account) ~= 'string' then return {s} end
local a = redis.call('GET', ARGV[1] .. d.account)
if not a then return {s} end
return {s, a}`)

func (b *redisBackend) session(key string) (s Session, found bool, a accountRecord, ok bool, err error) {
	ctx, cancel := b.ctx()
	defer cancel()
	k := b.p + "session:" + key
	vals, err := sessionScript.Run(ctx, b.c, []string{k}, b.p+"account:").StringSlice()
	if errors.Is(err, redis.Nil) {
		return s, false, a, false, nil
	}
	if err != nil {
		return s, false, a, false, wrap("session", err)
	}
	if err := json.Unmarshal([]byte(vals[0]), &s); err != nil {
		return s, false, a, false, fmt.Errorf("auth: record %q: %w", k, err)
	}
	if len(vals) < 2 {
		return s, true, a, false, nil
	}
	if err := json.Unmarshal([]byte(vals[1]), &a); err != nil {
		return s, true, a, false, fmt.Errorf("auth: record %q: %w", b.p+"account:"+s.Account, err)
	}
	return s, true, a, true, nil
}

func (b *redisBackend) putSession(key string, s Session) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ctx, cancel := b.ctx()
	defer cancel()
	_, err = b.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, b.p+"session:"+key, raw, 0)
		p.ZAdd(ctx, b.p+"sessions:expiry", redis.Z{Score: float64(s.ExpiresAt.UnixMilli()), Member: key})
		p.SAdd(ctx, b.p+"account-sessions:"+s.Account, key)
		return nil
	})
	return wrap("put session", err)
}

// slideScript rewrites a session that still exists: a revocation deletes
// the account's sessions in the same transaction that stamps RevokedAt, so
// an existing session was not revoked.
var slideScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1`)

func (b *redisBackend) slideSession(key string, s Session) (bool, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return false, err
	}
	ctx, cancel := b.ctx()
	defer cancel()
	n, err := slideScript.Run(ctx, b.c, []string{b.p + "session:" + key, b.p + "sessions:expiry"},
		raw, strconv.FormatInt(s.ExpiresAt.UnixMilli(), 10), key).Int()
	return n == 1, wrap("slide session", err)
}

// deleteSessions deletes sessions with their index entries.
func (b *redisBackend) deleteSessions(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = b.p + "session:" + k
	}
	vals, err := b.c.MGet(ctx, full...).Result()
	if err != nil {
		return 0, wrap("delete sessions", err)
	}
	var dels []*redis.IntCmd
	_, err = b.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			var s Session
			if v, ok := vals[i].(string); ok && json.Unmarshal([]byte(v), &s) == nil {
				p.SRem(ctx, b.p+"account-sessions:"+s.Account, k)
			}
			dels = append(dels, p.Del(ctx, full[i]))
		}
		p.ZRem(ctx, b.p+"sessions:expiry", toAny(keys)...)
		return nil
	})
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, wrap("delete sessions", err)
}

func (b *redisBackend) deleteSession(key string) error {
	ctx, cancel := b.ctx()
	defer cancel()
	_, err := b.deleteSessions(ctx, []string{key})
	return err
}

func (b *redisBackend) pruneSessions(now time.Time) (int, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	total := 0
	// In batches, so a long-unpruned Redis is not one huge command.
	for range 1000 {
		keys, err := b.c.ZRangeByScore(ctx, b.p+"sessions:expiry", &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: 500}).Result()
		if err != nil {
			return total, wrap("prune sessions", err)
		}
		n, err := b.deleteSessions(ctx, keys)
		total += n
		if err != nil || len(keys) < 500 {
			return total, err
		}
	}
	return total, nil
}

func (b *redisBackend) putInvite(inv Invite) error {
	raw, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	ctx, cancel := b.ctx()
	defer cancel()
	_, err = b.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, b.p+"invite:"+inv.ID, raw, 0)
		p.ZAdd(ctx, b.p+"invites", redis.Z{Member: inv.ID})
		return nil
	})
	return wrap("put invite", err)
}

func (b *redisBackend) invite(id string) (Invite, bool, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	var inv Invite
	ok, err := b.getJSON(ctx, b.p+"invite:"+id, &inv)
	return inv, ok, err
}

func (b *redisBackend) invites() ([]Invite, error) { return list[Invite](b, "invites", "invite:") }

func (b *redisBackend) revokeInvite(id string) error {
	k := b.p + "invite:" + id
	return b.watched("revoke invite", func(ctx context.Context, tx *redis.Tx) error {
		var inv Invite
		raw, err := tx.Get(ctx, k).Bytes()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("auth: invite %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &inv); err != nil {
			return fmt.Errorf("auth: record %q: %w", k, err)
		}
		inv.Revoked = true
		if raw, err = json.Marshal(inv); err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, k, raw, 0)
			return nil
		})
		return err
	}, k)
}
