package alsa

import "testing"

func TestParseCards(t *testing.T) {
	cards := parseCards(" 0 [vc4hdmi        ]: vc4-hdmi - vc4-hdmi\n                      vc4-hdmi\n 1 [Loopback       ]: Loopback - Loopback\n                      Loopback 1\n 2 [Device         ]: USB-Audio - USB PnP Sound Device\n")
	if len(cards) != 3 || !matchCard(cards[1], "loopback") || !matchCard(cards[2], "USB PnP") || matchCard(cards[0], "usb") {
		t.Fatalf("cards %v", cards)
	}
	for _, name := range []string{"pcmC2D0c", "pcmC2D0p"} {
		var c, d int
		if _, err := sscanPCM(name, &c, &d); err != nil || c != 2 || d != 0 {
			t.Fatalf("sscan %s: %d %d %v", name, c, d, err)
		}
	}
	if Direction("/dev/snd/pcmC0D0p") != Playback || Direction("/dev/snd/pcmC0D0c") != Capture {
		t.Fatal("Direction")
	}
}

func FuzzParseCards(f *testing.F) {
	f.Add(" 0 [Loopback       ]: Loopback - Loopback\n")
	f.Add("x [")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for n, name := range parseCards(s) {
			if n < 0 && name == "" {
				t.Fatal("impossible")
			}
		}
	})
}
