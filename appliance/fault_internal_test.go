package appliance

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"tether/board"
	"tether/store"
)

// TestResolveOrFault: a layer that does not resolve is dropped, the most
// likely culprit first, and the rest still apply; the cause names the
// setting and the layers left out. Another tetherd holding the state file
// stays an error.
func TestResolveOrFault(t *testing.T) {
	rpi4 := func() (board.Profile, error) { return board.Lookup(board.NameRPi4B) }
	stored := func(string) (store.Settings, error) { return store.Settings{HubURL: "https://stored.example"}, nil }
	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		file      string
		stored    func(string) (store.Settings, error)
		detect    func() (board.Profile, error)
		wantCause []string // empty: no fault
		wantErr   error
		check     func(t *testing.T, c Config)
	}{
		{name: "good", file: `{"fps": 20}`, stored: stored, detect: rpi4,
			check: func(t *testing.T, c Config) {
				if c.FPS != 20 {
					t.Errorf("fps %d", c.FPS)
				}
			}},
		{name: "corrupt file", args: []string{"-bitrate", "700"}, env: map[string]string{"TETHER_FPS": "12"}, file: `{"fps": 20,`, stored: stored, detect: rpi4,
			wantCause: []string{"not valid JSON", "running without the config file until"},
			check: func(t *testing.T, c Config) {
				// Environment, flags, stored settings and the board still apply.
				if c.FPS != 12 || c.BitrateKbps != 700 || c.HubURL != "https://stored.example" || c.Profile.Name != board.NameRPi4B {
					t.Errorf("fallback config %d fps %d kbit/s hub %s board %s", c.FPS, c.BitrateKbps, c.HubURL, c.Profile.Name)
				}
			}},
		{name: "bad environment", env: map[string]string{"TETHER_FPS": "many"}, file: `{"width": 800, "height": 600}`, stored: stored, detect: rpi4,
			wantCause: []string{`fps "many" (from environment)`, "without the config file and the environment"}},
		{name: "bad flag", args: []string{"-log-level", "loud"}, stored: stored, detect: rpi4,
			wantCause: []string{`log-level "loud" (from flag)`, "the environment and the flags"}},
		{name: "bad stored setting", stored: func(string) (store.Settings, error) { return store.Settings{HubURL: "ftp://x"}, nil }, detect: rpi4,
			wantCause: []string{"(from stored settings)", "but the defaults and the board's"},
			check: func(t *testing.T, c Config) {
				if c.Profile.Name != board.NameRPi4B {
					t.Errorf("board %s", c.Profile.Name)
				}
			}},
		{name: "no board", stored: stored, detect: func() (board.Profile, error) { return board.Profile{}, errors.New("no device tree") },
			wantCause: []string{"board detection", "on the generic board"}},
		{name: "unreadable state file", stored: func(string) (store.Settings, error) { return store.Settings{}, errors.New("read-only file system") }, detect: rpi4},
		{name: "state file locked", stored: func(string) (store.Settings, error) { return store.Settings{}, store.ErrLocked }, detect: rpi4,
			wantErr: store.ErrLocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("tetherd", flag.ContinueOnError)
			fs.String("config", "", "")
			RegisterFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			readFile := func(string) ([]byte, error) { return []byte(tc.file), nil }
			c, cause, err := resolveOrFault(fs, func(k string) string { return tc.env[k] }, readFile, tc.stored, tc.detect)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cause == "") != (len(tc.wantCause) == 0) || strings.Contains(cause, "\n") {
				t.Fatalf("cause %q", cause)
			}
			for _, w := range tc.wantCause {
				if !strings.Contains(cause, w) {
					t.Errorf("cause %q lacks %q", cause, w)
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestDeviceNeeds: the nodes a configuration makes tetherd open, as the
// pipeline, the panel and the console would open them.
func TestDeviceNeeds(t *testing.T) {
	p, _ := board.Lookup(board.NameRPi4B)
	got := deviceNeeds(Config{Camera: "/dev/video0", Microphone: "/dev/snd/pcmC1D0c", Console: "/dev/serial0", Profile: p})
	var s []string
	for _, n := range got {
		s = append(s, n.what+"="+strings.Join(n.paths, ","))
	}
	want := "camera=/dev/video0 encoder=" + p.Encoder.Device + " microphone=/dev/snd/pcmC1D0c serial console=/dev/serial0"
	if !strings.HasPrefix(strings.Join(s, " "), want) {
		t.Errorf("needs %q, want %q first", s, want)
	}
	if got := deviceNeeds(Config{Camera: "test", Microphone: "test", Profile: board.Profile{GPIO: board.GPIO{Chip: board.SimChip}}}); len(got) != 0 {
		t.Errorf("the sim board with test sources needs %v", got)
	}
}
