package appliance

import (
	"errors"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

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
