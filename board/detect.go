package board

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// DefaultModelPath is where the kernel exposes the device tree's model string.
const DefaultModelPath = "/proc/device-tree/model"

// modelPrefixes maps real /proc/device-tree/model strings to profiles by
// prefix, as gokrazy does. Order matters: longer, more specific prefixes
// first. "Raspberry Pi 4" also covers the Pi 400 (same BCM2711 SoC) and
// "Raspberry Pi 3 Model B" covers the 3B+ ("... Model B Plus Rev 1.3").
var modelPrefixes = []struct {
	prefix string
	name   string
}{
	{"Raspberry Pi Compute Module 4", NameCM4},
	{"Raspberry Pi Zero 2 W", NameRPiZero2W},
	{"Raspberry Pi 5", NameRPi5},
	{"Raspberry Pi 4", NameRPi4B},
	{"Raspberry Pi 3 Model B", NameRPi3B},
}

// MatchModel maps a device-tree model string to a profile name. Trailing NUL
// bytes and whitespace (the kernel NUL-terminates the property) are ignored.
// ok is false for an unknown model.
func MatchModel(model string) (name string, ok bool) {
	m := CleanModel(model)
	for _, mp := range modelPrefixes {
		if strings.HasPrefix(m, mp.prefix) {
			return mp.name, true
		}
	}
	return "", false
}

// CleanModel strips the NUL terminator and surrounding whitespace.
func CleanModel(model string) string {
	if i := strings.IndexByte(model, 0); i >= 0 {
		model = model[:i]
	}
	return strings.TrimSpace(model)
}

// Detect reads the model file (DefaultModelPath on a real system; tests pass
// their own) and returns the matching profile and the model string read.
// A missing file (x86 dev box, container) or an unknown model gives the
// generic profile and no error; only an unreadable existing file is an error,
// and the generic profile is still returned so the caller can carry on.
func Detect(modelPath string) (Profile, string, error) {
	generic, _ := Lookup(NameGeneric)
	b, err := os.ReadFile(modelPath)
	if errors.Is(err, fs.ErrNotExist) {
		return generic, "", nil
	}
	if err != nil {
		return generic, "", fmt.Errorf("board: detect %s: %w: %w", modelPath, ErrModelRead, err)
	}
	model := CleanModel(string(b))
	name, ok := MatchModel(model)
	if !ok {
		return generic, model, nil
	}
	p, err := Lookup(name)
	if err != nil {
		return generic, model, err
	}
	return p, model, nil
}
