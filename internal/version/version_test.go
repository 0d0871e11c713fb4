package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	got := String("tetherd")
	if !strings.HasPrefix(got, "tetherd "+Version+" (") || !strings.Contains(got, runtime.Version()) {
		t.Fatalf("String = %q", got)
	}
}
