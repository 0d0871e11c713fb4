package alsa

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readCards parses /proc/asound/cards: " 0 [Loopback       ]: Loopback - Loopback".
func readCards() map[int]string {
	b, _ := os.ReadFile("/proc/asound/cards")
	return parseCards(string(b))
}

func parseCards(s string) map[int]string {
	out := map[int]string{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], "[") {
			continue
		}
		// Card indices are 0..SNDRV_CARDS-1: unsigned, no sign accepted.
		n, err := strconv.ParseUint(f[0], 10, 8)
		if err != nil {
			continue
		}
		out[int(n)] = strings.TrimSpace(line[strings.Index(line, "[")+1:])
	}
	return out
}

func matchCard(name, hint string) bool {
	return name != "" && strings.Contains(strings.ToLower(name), strings.ToLower(hint))
}

// sscanPCM parses a node name ("pcmC1D0c", "pcmC0D3p").
func sscanPCM(base string, card, dev *int) (int, error) {
	var dir byte
	return fmt.Sscanf(base, "pcmC%dD%d%c", card, dev, &dir)
}
