package pionlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/pion/logging"
)

var _ logging.LoggerFactory = Factory{}

func TestLevelsAndScope(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: LevelTrace})).With("component", "peer")
	l := New(log).NewLogger("ice")
	l.Trace("t")
	l.Tracef("t%d", 1)
	l.Debug("d")
	l.Debugf("d%d", 1)
	l.Info("i")
	l.Infof("i%d", 1)
	l.Warn("w")
	l.Warnf("w%d", 1)
	l.Error("e")
	l.Errorf("e%d", 1)
	want := []struct{ msg, level string }{
		{"t", "DEBUG-4"}, {"t1", "DEBUG-4"}, {"d", "DEBUG"}, {"d1", "DEBUG"}, {"i", "DEBUG"}, {"i1", "DEBUG"},
		{"w", "INFO"}, {"w1", "INFO"}, {"e", "ERROR"}, {"e1", "ERROR"},
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] != want[i].msg || rec["level"] != want[i].level || rec["pion"] != "ice" || rec["component"] != "peer" {
			t.Errorf("line %d: %s, want msg %q level %s pion=ice component=peer", i, line, want[i].msg, want[i].level)
		}
	}
}

// TestFormatSkippedBelowLevel: a disabled level neither writes nor formats
// (pion's debug output is heavy).
func TestFormatSkippedBelowLevel(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).NewLogger("dtls")
	formatted := false
	l.Debugf("%v", stringerFunc(func() string { formatted = true; return "x" }))
	l.Infof("%v", stringerFunc(func() string { formatted = true; return "x" }))
	if buf.Len() != 0 || formatted {
		t.Fatalf("disabled levels wrote %q (formatted %v)", buf.String(), formatted)
	}
	l.Warnf("%v", stringerFunc(func() string { return "shown" }))
	if !strings.Contains(buf.String(), "shown") || !strings.Contains(buf.String(), "pion=dtls") {
		t.Fatalf("warn: %q", buf.String())
	}
}

type stringerFunc func() string

func (f stringerFunc) String() string { return f() }

func TestNilLogger(t *testing.T) {
	if New(nil).Log == nil {
		t.Fatal("nil logger kept")
	}
}
