package h264

import (
	"bytes"
	"testing"
)

func TestScan(t *testing.T) {
	sps := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f}
	pps := []byte{0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01}
	p := []byte{0, 0, 0, 1, 0x41, 0x9a, 0x02}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name string
		b    []byte
		want Info
	}{
		{"keyframe with parameter sets", cat(sps, pps, idr), Info{IDR: true, SPS: true, PPS: true, Slices: 1}},
		{"P slice", p, Info{Slices: 1}},
		{"two slices", cat(p, p), Info{Slices: 2}},
		{"trailing zeros", cat(idr, []byte{0, 0, 0}), Info{IDR: true, Slices: 1}},
		{"empty", nil, Info{}},
		{"no start code", []byte{0x65, 1, 2}, Info{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scan(tc.b); got != tc.want {
				t.Fatalf("Scan = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// naiveUnits splits at every 3-byte start code with a simple reference
// algorithm.
func naiveUnits(b []byte) [][]byte {
	var idx []int
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			idx = append(idx, i)
			i += 2
		}
	}
	var out [][]byte
	for k, s := range idx {
		end := len(b)
		if k+1 < len(idx) {
			end = idx[k+1]
			for end > s+3 && b[end-1] == 0 {
				end--
			}
		}
		if s+3 < end {
			out = append(out, b[s+3:end])
		}
	}
	return out
}

func FuzzUnits(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65, 2})
	f.Add([]byte{0, 0, 1})
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got [][]byte
		Units(b, func(n []byte) bool { got = append(got, n); return true })
		want := naiveUnits(b)
		if len(got) != len(want) {
			t.Fatalf("%d units, want %d (%x)", len(got), len(want), b)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("unit %d = %x, want %x", i, got[i], want[i])
			}
		}
		_ = Scan(b)
	})
}

func BenchmarkScan(b *testing.B) {
	au := append([]byte{0, 0, 0, 1, 0x65}, make([]byte, 20000)...)
	for i := 5; i < len(au); i += 7 {
		au[i] = byte(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		Scan(au)
	}
}
