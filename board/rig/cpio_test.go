package rig

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one archive member as read back by readCPIO.
type cpioEntry struct {
	name         string
	mode         uint32
	rmajor, rmin uint32
	data         string
}

// readCPIO parses a newc archive, checking the magic and the 4-byte
// alignment the kernel's unpacker requires.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("header at %d is not 4-byte aligned", off)
		}
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		f := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nameSize := f(1), f(6), f(9), f(10), f(11)
		name := string(b[off+110 : off+110+int(nameSize)-1])
		off += 110 + int(nameSize)
		off += (4 - off%4) % 4
		data := string(b[off : off+int(size)])
		off += int(size)
		off += (4 - off%4) % 4
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, rmaj, rmin, data})
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	w := newCPIOWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.CharDev("/dev/console", 0o600, 5, 1))
	must(addBytes(w, "/usr/sbin/ip", 0o755, []byte("abcde")))
	must(w.Symlink("/usr/sbin/iptables", "xtables-legacy-multi"))
	must(w.Dir("/usr", 0o755)) // already there: not repeated
	must(addBytes(w, "/a", 0o644, nil))
	must(w.Close())

	got := readCPIO(t, buf.Bytes())
	var names []string
	for _, e := range got {
		names = append(names, fmt.Sprintf("%s %o", e.name, e.mode))
	}
	want := []string{
		"dev 40755", "dev/console 20600", "usr 40755", "usr/sbin 40755",
		"usr/sbin/ip 100755", "usr/sbin/iptables 120777", "a 100644",
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("entries\n got %v\nwant %v", names, want)
	}
	for _, e := range got {
		switch e.name {
		case "dev/console":
			if e.rmajor != 5 || e.rmin != 1 {
				t.Errorf("console device %d:%d, want 5:1", e.rmajor, e.rmin)
			}
		case "usr/sbin/ip":
			if e.data != "abcde" {
				t.Errorf("ip data %q", e.data)
			}
		case "usr/sbin/iptables":
			if e.data != "xtables-legacy-multi" {
				t.Errorf("symlink target %q", e.data)
			}
		}
	}
}

func TestCPIOShortRead(t *testing.T) {
	w := newCPIOWriter(io.Discard)
	if err := w.File("/x", 0o644, strings.NewReader("ab"), 5); err == nil {
		t.Fatal("short file accepted")
	}
	if err := w.Close(); err == nil {
		t.Fatal("writer kept going after an error")
	}
}

func TestPad4(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 3, 2: 2, 3: 1, 4: 0, 110: 2} {
		if got := len(pad4(n)); got != want {
			t.Errorf("pad4(%d) = %d bytes, want %d", n, got, want)
		}
	}
}

func BenchmarkCPIOWriter(b *testing.B) {
	data := bytes.Repeat([]byte{1}, 1<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)) * 8)
	for i := 0; i < b.N; i++ {
		w := newCPIOWriter(io.Discard)
		for j := 0; j < 8; j++ {
			w.File("/rig/bin/p"+strconv.Itoa(j)+".test", 0o755, bytes.NewReader(data), int64(len(data)))
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
