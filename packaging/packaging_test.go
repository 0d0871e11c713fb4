package packaging

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// A hub without its customer page is never shipped: Build refuses before
// compiling anything.
func TestBuildRefusesWithoutCustomerPage(t *testing.T) {
	b := &Builder{Root: t.TempDir(), Out: t.TempDir(), Version: "v1.0.0", Log: io.Discard}
	_, err := b.Build(context.Background(), Targets[0])
	if !errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), "make web") {
		t.Fatalf("Build without web/dist: %v", err)
	}
}

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":               "1.2.0",
		"v1.2.0-5-gabc1234":    "1.2.0+5.gabc1234",
		"e146596":              "0~git.e146596",
		"e146596-dirty":        "0~git.e146596+dirty",
		"v2.0.0-rc1-3-gdead00": "2.0.0~rc1+3.gdead00",
	} {
		got, err := DebVersion(in)
		if err != nil || got != want {
			t.Errorf("DebVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := DebVersion("v1.0 beta"); err == nil {
		t.Error("a version with a space was accepted")
	}
}
