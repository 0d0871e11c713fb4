package board

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeModel(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name      string
		content   string // "" with missing=true means no file
		missing   bool
		wantBoard string
		wantModel string
	}{
		// Real strings as the kernel exposes them, NUL-terminated.
		{"pi4", "Raspberry Pi 4 Model B Rev 1.4\x00", false, NameRPi4B, "Raspberry Pi 4 Model B Rev 1.4"},
		{"pi5", "Raspberry Pi 5 Model B Rev 1.0\x00", false, NameRPi5, "Raspberry Pi 5 Model B Rev 1.0"},
		{"zero2w", "Raspberry Pi Zero 2 W Rev 1.0\x00", false, NameRPiZero2W, "Raspberry Pi Zero 2 W Rev 1.0"},
		{"cm4", "Raspberry Pi Compute Module 4 Rev 1.0\x00", false, NameCM4, "Raspberry Pi Compute Module 4 Rev 1.0"},
		{"pi3b", "Raspberry Pi 3 Model B Rev 1.2\x00", false, NameRPi3B, "Raspberry Pi 3 Model B Rev 1.2"},
		{"pi3b+", "Raspberry Pi 3 Model B Plus Rev 1.3\x00", false, NameRPi3B, "Raspberry Pi 3 Model B Plus Rev 1.3"},
		{"pi400", "Raspberry Pi 400 Rev 1.0\x00", false, NameRPi4B, "Raspberry Pi 400 Rev 1.0"},
		{"no NUL, newline", "Raspberry Pi 4 Model B Rev 1.1\n", false, NameRPi4B, "Raspberry Pi 4 Model B Rev 1.1"},
		{"zero W (v1) is not zero 2", "Raspberry Pi Zero W Rev 1.1\x00", false, NameGeneric, "Raspberry Pi Zero W Rev 1.1"},
		{"pi 2 unknown", "Raspberry Pi 2 Model B Rev 1.1\x00", false, NameGeneric, "Raspberry Pi 2 Model B Rev 1.1"},
		{"other board", "Pine64 RockPro64 v2.1\x00", false, NameGeneric, "Pine64 RockPro64 v2.1"},
		{"empty", "", false, NameGeneric, ""},
		{"missing file", "", true, NameGeneric, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "absent")
			if !tc.missing {
				path = writeModel(t, tc.content)
			}
			p, model, err := Detect(path)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if p.Name != tc.wantBoard || model != tc.wantModel {
				t.Fatalf("Detect = %q, %q; want %q, %q", p.Name, model, tc.wantBoard, tc.wantModel)
			}
		})
	}
}

func TestDetectUnreadable(t *testing.T) {
	// A directory in place of the file cannot be read: error, but generic.
	p, _, err := Detect(t.TempDir())
	if !errors.Is(err, ErrModelRead) {
		t.Fatalf("err = %v, want ErrModelRead", err)
	}
	if p.Name != NameGeneric {
		t.Fatalf("profile = %q, want generic", p.Name)
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"rpi3b", "rpi4b", "rpi5", "rpizero2w", "cm4", "generic", "sim", "RPi4B", " sim "} {
		t.Run(name, func(t *testing.T) {
			p, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(p.Name, strings.TrimSpace(name)) {
				t.Fatalf("Lookup(%q).Name = %q", name, p.Name)
			}
		})
	}
	_, err := Lookup("pi4")
	if !errors.Is(err, ErrUnknownBoard) {
		t.Fatalf("err = %v, want ErrUnknownBoard", err)
	}
	want := `board: unknown board "pi4" (valid: cm4, generic, rpi3b, rpi4b, rpi5, rpizero2w, sim)`
	if err.Error() != want {
		t.Fatalf("err = %q\nwant  %q", err, want)
	}
}

func TestProfileInvariants(t *testing.T) {
	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			if p.Description == "" {
				t.Error("no description")
			}
			if p.Encoder.Software == (p.Encoder.Device != "") {
				t.Errorf("encoder must be either a device or software: %+v", p.Encoder)
			}
			// Every Pi gets the serial console on its primary UART by
			// default (docs/leds.md); the sim board and generic have none.
			if pi := strings.HasPrefix(p.Name, "rpi") || p.Name == NameCM4; pi != (p.Console == "/dev/serial0") {
				t.Errorf("console %q", p.Console)
			}
			v := p.Video
			if v.Width <= 0 || v.Height <= 0 || v.FPS <= 0 || v.BitrateKbps <= 0 {
				t.Errorf("bad video defaults %+v", v)
			}
			g := p.GPIO
			if g.Chip == "" {
				if g.LinkLED.Fitted() || g.StatusLED.Fitted() || g.Button.Fitted() {
					t.Errorf("pins fitted without a chip: %+v", g)
				}
				return
			}
			seen := map[int]bool{}
			for _, pin := range []Pin{g.LinkLED, g.StatusLED, g.Button} {
				if !pin.Fitted() {
					continue
				}
				if seen[pin.Offset] {
					t.Errorf("offset %d used twice", pin.Offset)
				}
				seen[pin.Offset] = true
			}
			if !g.LinkLED.Fitted() || !g.StatusLED.Fitted() {
				t.Errorf("board with a chip must fit both LEDs: %+v", g)
			}
		})
	}
	pi5, _ := Lookup(NameRPi5)
	if !pi5.Encoder.Software {
		t.Error("Pi 5 has no hardware H.264 encoder")
	}
	zero, _ := Lookup(NameRPiZero2W)
	pi4, _ := Lookup(NameRPi4B)
	if zero.Video.Width*zero.Video.Height >= pi4.Video.Width*pi4.Video.Height || zero.Video.BitrateKbps >= pi4.Video.BitrateKbps {
		t.Errorf("Zero 2 W defaults must be lower than Pi 4: %+v vs %+v", zero.Video, pi4.Video)
	}
	if pi4.Encoder.Device != "/dev/video11" {
		t.Errorf("Pi 4 encoder = %q, want bcm2835-codec /dev/video11", pi4.Encoder.Device)
	}
}

func TestProfilesIsACopy(t *testing.T) {
	ps := Profiles()
	ps[0].Name = "mutated"
	if _, err := Lookup(NameRPi3B); err != nil {
		t.Fatal("Profiles() exposed the table")
	}
}

func FuzzMatchModel(f *testing.F) {
	for _, s := range []string{
		"Raspberry Pi 4 Model B Rev 1.4\x00",
		"Raspberry Pi 5 Model B Rev 1.0\x00",
		"Raspberry Pi Zero 2 W Rev 1.0\x00",
		"Raspberry Pi Compute Module 4 Rev 1.0\x00",
		"Raspberry Pi 3 Model B Rev 1.2\x00",
		"", "\x00", "Raspberry Pi",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, model string) {
		name, ok := MatchModel(model)
		if ok {
			if _, err := Lookup(name); err != nil {
				t.Fatalf("MatchModel(%q) = %q, not a profile", model, name)
			}
			if !strings.HasPrefix(CleanModel(model), "Raspberry Pi") {
				t.Fatalf("non-Pi model %q matched %q", model, name)
			}
		} else if name != "" {
			t.Fatalf("unmatched but name %q", name)
		}
	})
}
