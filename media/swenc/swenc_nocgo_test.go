//go:build !cgo

package swenc

import (
	"errors"
	"testing"
)

func TestNoCgoStubs(t *testing.T) {
	if Available {
		t.Fatal("Available in a cgo-off build")
	}
	if _, err := NewH264(Config{Width: 320, Height: 240, Sink: func(AccessUnit) {}}); !errors.Is(err, ErrNoSoftwareEncoder) {
		t.Fatalf("NewH264: %v", err)
	}
	if _, err := NewOpus(OpusConfig{}); !errors.Is(err, ErrNoSoftwareEncoder) {
		t.Fatalf("NewOpus: %v", err)
	}
	if _, err := NewOpusDecoder(); !errors.Is(err, ErrNoSoftwareEncoder) {
		t.Fatalf("NewOpusDecoder: %v", err)
	}
}
