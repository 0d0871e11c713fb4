package auth

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"tether/internal/testenv"
)

// testBackend hands out the configs of one backend kind: cfg(name) is
// always the same store for the same name (a restart reopens it), another
// name is another store (another hub). dump is everything the store keeps
// on disk or in Redis, for "no token in clear" checks.
type testBackend struct {
	kind string
	cfg  func(name string, clk clockwork.Clock) Config
	dump func(name string) []byte
}

// forBackends runs the contract test f against bbolt and against a real
// redis-server (skipped with a message when it is not installed; CI
// installs it).
func forBackends(t *testing.T, f func(t *testing.T, b testBackend)) {
	t.Run("bolt", func(t *testing.T) {
		dir := t.TempDir()
		path := func(name string) string { return filepath.Join(dir, name+".db") }
		f(t, testBackend{kind: "bolt",
			cfg: func(name string, clk clockwork.Clock) Config {
				return Config{Path: path(name), KDF: testenv.KDF, SessionTTL: 30 * 24 * time.Hour, Clock: clk, Logger: slog.New(slog.DiscardHandler)}
			},
			dump: func(name string) []byte { b, _ := os.ReadFile(path(name)); return b },
		})
	})
	t.Run("redis", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		f(t, testBackend{kind: "redis",
			cfg: func(name string, clk clockwork.Clock) Config {
				return Config{Redis: r.URL(), RedisPrefix: name + ":", KDF: testenv.KDF, SessionTTL: 30 * 24 * time.Hour, Clock: clk, Logger: slog.New(slog.DiscardHandler)}
			},
			dump: func(name string) []byte { return redisDump(t, r.URL(), name+":") },
		})
	})
}

// redisDump is every key and string value under prefix.
func redisDump(t *testing.T, url, prefix string) []byte {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k + "\n")
		if v, err := c.Get(ctx, k).Result(); err == nil {
			sb.WriteString(v + "\n")
		}
		if m, err := c.SMembers(ctx, k).Result(); err == nil {
			sb.WriteString(strings.Join(m, "\n"))
		}
		if m, err := c.ZRange(ctx, k, 0, -1).Result(); err == nil {
			sb.WriteString(strings.Join(m, "\n"))
		}
	}
	return []byte(sb.String())
}

func (b testBackend) open(t *testing.T, name string, clk clockwork.Clock) *Store {
	t.Helper()
	s, err := Open(b.cfg(name, clk))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
