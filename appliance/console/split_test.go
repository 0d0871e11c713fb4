package console

import (
	"slices"
	"strings"
	"testing"
)

func split(in string) []string {
	var sp lineSplitter
	var out []string
	for _, b := range []byte(in) {
		if l, ok := sp.feed(b); ok {
			out = append(out, l)
		}
	}
	return out
}

func TestLineSplitter(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"LF", "status\nlog\n", []string{"status", "log"}},
		{"CR (raw serial Enter)", "status\rnet\r", []string{"status", "net"}},
		{"CR LF", "status\r\nnet\r\n", []string{"status", "net"}},
		{"empty lines", "\n\r\r\n", []string{"", "", ""}},
		{"backspace", "stx\x7fatus\b\bus\n", []string{"status"}},
		{"backspace at start", "\x08\x08log\n", []string{"log"}},
		{"NUL dropped", "st\x00atus\n", []string{"status"}},
		{"no terminator", "status", nil},
		{"too long", strings.Repeat("x", maxLine+1) + "\nhelp\n", []string{tooLongLine, "help"}},
		{"exactly max", strings.Repeat("x", maxLine) + "\n", []string{strings.Repeat("x", maxLine)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := split(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("split(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzConsoleInput feeds arbitrary bytes (line noise, a hostile terminal)
// through the splitter and the command parser: no panic, bounded lines,
// and every answer is single lines without control characters.
func FuzzConsoleInput(f *testing.F) {
	for _, s := range []string{"status\n", "log 5\r\n", "log -1\r", "net\n", "help\n", "\x1b[A\n", "restart\n", strings.Repeat("a", 300) + "\n", "lo\x7fog 99999999999\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newFuzzConsole()
		var sp lineSplitter
		for _, b := range in {
			line, ok := sp.feed(b)
			if !ok {
				continue
			}
			if line != tooLongLine && (len(line) > maxLine || strings.ContainsAny(line, "\r\n\x00")) {
				t.Fatalf("line %q", line)
			}
			r.out.Reset()
			r.c.command(line)
			for _, l := range strings.Split(strings.TrimSuffix(r.out.String(), "\r\n"), "\r\n") {
				if strings.IndexFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
					t.Fatalf("answer line %q holds a control character", l)
				}
			}
		}
	})
}
