package testenv

import (
	"log/slog"
	"os"
	"strings"
)

// Logger is every test's logger: silent unless TETHER_TEST_LOG names a
// level ("debug", "info", "warn", "error"; any other non-empty value is
// debug), then text on stderr. It is not t.Log: the components' goroutines
// may log after their test has returned.
func Logger() *slog.Logger {
	v := os.Getenv("TETHER_TEST_LOG")
	if v == "" {
		return slog.New(slog.DiscardHandler)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
