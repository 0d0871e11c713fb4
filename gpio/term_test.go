package gpio

import (
	"bytes"
	"testing"
)

func TestRender(t *testing.T) {
	leds := []LEDView{{Name: "link", Color: Green, On: true}, {Name: "status", Color: Red}}
	tests := []struct {
		name string
		ansi bool
		want string
	}{
		{"plain", false, "LED link ● status ○"},
		{"ansi", true, "LED link \x1b[32m●\x1b[0m status \x1b[2m○\x1b[0m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Render(leds, tc.ansi); got != tc.want {
				t.Fatalf("Render = %q, want %q", got, tc.want)
			}
		})
	}
	if got := Render([]LEDView{{Name: "x", Color: Amber, On: true}}, true); got != "LED x \x1b[33m●\x1b[0m" {
		t.Fatalf("amber %q", got)
	}
}

func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf, true)
	term.Set(LEDStatus, 1)
	want := "\rLED link \x1b[2m○\x1b[0m status \x1b[31m●\x1b[0m\x1b[K"
	if buf.String() != want {
		t.Fatalf("wrote %q, want %q", buf.String(), want)
	}
	term.Set("aux", 1)
	leds := term.LEDs()
	if len(leds) != 3 || leds[2].Name != "aux" || leds[2].ColorName != "amber" || !leds[2].On {
		t.Fatalf("LEDs = %+v", leds)
	}
	if term.String() != "LED link ○ status ● aux ●" {
		t.Fatalf("String = %q", term.String())
	}

	buf.Reset()
	plain := NewTerminal(&buf, false)
	plain.Set(LEDLink, 1)
	if buf.String() != "LED link ● status ○\n" {
		t.Fatalf("plain wrote %q", buf.String())
	}
}
