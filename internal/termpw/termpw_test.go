package termpw

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// TestReadFromPipe: provisioning scripts pipe the password in; nothing is
// prompted, the line ending goes, a missing final newline is fine.
func TestReadFromPipe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"s3cret\n", "s3cret"},
		{"s3cret\r\n", "s3cret"},
		{"no newline", "no newline"},
		{"first\nsecond\n", "first"},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = io.WriteString(w, tc.in); w.Close() }()
		var prompt bytes.Buffer
		got, err := Read(r, &prompt, "password: ")
		r.Close()
		if err != nil || got != tc.want || prompt.Len() != 0 {
			t.Errorf("%q: got %q, %v, prompt %q", tc.in, got, err, prompt.String())
		}
	}
	if _, err := Read(strings.NewReader(""), io.Discard, ""); !errors.Is(err, ErrNoPassword) {
		t.Errorf("empty input: %v", err)
	}
	if _, err := Read(strings.NewReader(strings.Repeat("x", MaxLen+10)+"\n"), io.Discard, ""); err == nil {
		t.Error("an oversized password was accepted")
	}
	if got, err := ReadConfirmed(strings.NewReader("once\n"), io.Discard, "a", "b"); err != nil || got != "once" {
		t.Errorf("confirmed from a pipe: %q %v", got, err)
	}
}
