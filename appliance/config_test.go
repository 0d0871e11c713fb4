package appliance

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/board"
	"tether/store"
)

func resolve(t *testing.T, args []string, env map[string]string, file string, stored store.Settings) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("tetherd", flag.ContinueOnError)
	fs.String("config", "", "")
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	readFile := func(name string) ([]byte, error) {
		if file == "" {
			return nil, os.ErrNotExist
		}
		return []byte(file), nil
	}
	return Resolve(fs, func(k string) string { return env[k] }, readFile,
		func(string) (store.Settings, error) { return stored, nil },
		func() (board.Profile, error) { return board.Lookup(board.NameRPi4B) })
}

func TestConfigLayers(t *testing.T) {
	stored := store.Settings{HubURL: "https://stored.example", Width: 800, Height: 600, BitrateKbps: 900}
	c, err := resolve(t, []string{"-bitrate", "1500"},
		map[string]string{"TETHER_HUB": "https://env.example", "TETHER_FPS": "15"},
		`{"fps": 20, "width": 1024, "height": 576}`, stored)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, got, want, src string
	}{
		{"hub", c.HubURL, "https://env.example", "environment"},
		{"fps", itoa(c.FPS), "15", "environment"},
		{"width", itoa(c.Width), "1024", "file /etc/tether/tetherd.json"},
		{"bitrate", itoa(c.BitrateKbps), "1500", "flag"},
		{"board", c.Profile.Name, "rpi4b", "board profile rpi4b"},
		{"data", c.DataPath, "/var/lib/tether/tetherd.db", "default"},
	}
	for _, w := range want {
		if w.got != w.want || c.Sources[w.name] != w.src {
			t.Errorf("%s = %q from %q, want %q from %q", w.name, w.got, c.Sources[w.name], w.want, w.src)
		}
	}
	// The board's camera survives when no later layer names one.
	if c.Camera != "/dev/video0" {
		t.Errorf("camera %q", c.Camera)
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		{[]string{"-hub", "ftp://x"}, nil, "", `hub "ftp://x" (from flag)`},
		{nil, map[string]string{"TETHER_FPS": "fast"}, "", `fps "fast" (from environment)`},
		{[]string{"-board", "toaster"}, nil, "", `board "toaster"`},
		{nil, nil, `{"colour": "red"}`, `unknown setting "colour"`},
		{nil, nil, `{not json`, `file /etc/tether/tetherd.json`},
		{[]string{"-setup-addr", "nowhere"}, nil, "", `setup-addr "nowhere"`},
		{[]string{"-stuck-timeout", "1s"}, nil, "", `stuck-timeout "1s"`},
	}
	for _, tt := range tests {
		_, err := resolve(t, tt.args, tt.env, tt.file, store.Settings{})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v %q: err %v, want one line containing %s", tt.args, tt.env, tt.file, err, tt.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestConsoleDefaultsFromBoard: the Pi's primary UART unless a later layer
// says otherwise; the sim board has none.
func TestConsoleDefaultsFromBoard(t *testing.T) {
	c, err := resolve(t, nil, nil, "", store.Settings{}) // detects rpi4b
	if err != nil || c.Console != "/dev/serial0" || c.Sources["console"] != "board profile rpi4b" {
		t.Fatalf("console %q from %q (%v)", c.Console, c.Sources["console"], err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-console", "/dev/ttyUSB0"}, nil, "/dev/ttyUSB0"},
		{[]string{"-console", ""}, nil, ""}, // given empty: off
		{nil, map[string]string{"TETHER_CONSOLE": "-"}, "-"},
		{[]string{"-board", "sim"}, nil, ""},
	} {
		c, err := resolve(t, tc.args, tc.env, "", store.Settings{})
		if err != nil || c.Console != tc.want {
			t.Errorf("%v %v: console %q (%v), want %q", tc.args, tc.env, c.Console, err, tc.want)
		}
	}
}

// TestTypedFlagDefaultsDoNotHideLayers: the flags carry their real types
// and defaults (for -h), yet a flag not given never overrides the board,
// stored settings, file or environment.
func TestTypedFlagDefaultsDoNotHideLayers(t *testing.T) {
	c, err := resolve(t, nil, map[string]string{"TETHER_LOG_LEVEL": "debug", "TETHER_STUCK_TIMEOUT": "1h"},
		`{"metrics-addr": "0.0.0.0:9200"}`, store.Settings{Width: 800, Height: 600})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.Stuck != time.Hour || c.MetricsAddr != "0.0.0.0:9200" || c.Width != 800 || c.FPS != 30 {
		t.Fatalf("log %s stuck %v metrics %s width %d fps %d: a flag's default hid a layer", c.LogLevel, c.Stuck, c.MetricsAddr, c.Width, c.FPS)
	}
	// Given, a flag wins, typed.
	c, err = resolve(t, []string{"-stuck-timeout", "20m", "-width", "640", "-metrics-addr", ""}, map[string]string{"TETHER_STUCK_TIMEOUT": "1h"}, "", store.Settings{})
	if err != nil || c.Stuck != 20*time.Minute || c.Width != 640 || c.MetricsAddr != "" || c.Sources["width"] != "flag" {
		t.Fatalf("%+v %v", c, err)
	}
	// With nothing set, the defaults -h shows are the ones in force.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterFlags(fs)
	c, err = resolve(t, nil, nil, "", store.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"metrics-addr": c.MetricsAddr, "setup-addr": c.SetupAddr, "log-level": c.LogLevel, "data": c.DataPath} {
		if def := fs.Lookup(name).DefValue; def != got {
			t.Errorf("%s: -h says %q, in force %q", name, def, got)
		}
	}
	if fs.Lookup("stuck-timeout").DefValue != c.Stuck.String() {
		t.Errorf("stuck-timeout: -h says %s, in force %v", fs.Lookup("stuck-timeout").DefValue, c.Stuck)
	}
	if c.MetricsAddr != "127.0.0.1:9101" {
		t.Errorf("metrics listen on %q by default, want loopback", c.MetricsAddr)
	}
}

// TestReloadAppliesLogLevel: SIGHUP's reload applies the log level at once
// and keeps the rest for the next restart.
func TestReloadAppliesLogLevel(t *testing.T) {
	var logs strings.Builder
	lv := new(slog.LevelVar)
	a := &App{log: slog.New(slog.NewTextHandler(&logs, nil))}
	running, _ := resolve(t, nil, nil, "", store.Settings{})
	next, _ := resolve(t, []string{"-log-level", "warn", "-fps", "12", "-hub", "https://other.example"}, nil, "", store.Settings{})
	got := a.reload("SIGHUP", running, next, nil, lv)
	if lv.Level() != slog.LevelWarn || got.LogLevel != "warn" || got.FPS != running.FPS || got.HubURL != running.HubURL {
		t.Fatalf("level %v, in force %+v", lv.Level(), got)
	}
	if !strings.Contains(logs.String(), "applied=[log-level]") || !strings.Contains(logs.String(), "settings=\"[fps hub]\"") && !strings.Contains(logs.String(), "settings=[fps hub]") {
		t.Fatalf("log:\n%s", logs.String())
	}
	// A configuration that does not resolve changes nothing.
	if after := a.reload("SIGHUP", got, Config{}, ErrConfig, lv); after.LogLevel != "warn" || lv.Level() != slog.LevelWarn {
		t.Fatal("a bad configuration was applied")
	}
}
