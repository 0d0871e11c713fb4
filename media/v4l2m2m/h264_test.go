package v4l2m2m

import (
	"bytes"
	"testing"
)

// naiveNALTypes is the obvious reference: look for 00 00 01 at every
// position, read the header byte after it, continue after the header.
func naiveNALTypes(b []byte) []uint8 {
	var out []uint8
	for i := 0; i+3 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			out = append(out, b[i+3]&0x1f)
			i += 4
			continue
		}
		i++
	}
	return out
}

func collect(b []byte) []uint8 {
	var out []uint8
	nalTypes(b, func(t uint8) bool { out = append(out, t); return true })
	return out
}

func TestScanAU(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want auInfo
		nals []uint8
	}{
		{"idr with headers", []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9}, auInfo{true, true, true}, []uint8{7, 8, 5}},
		{"p slice", []byte{0, 0, 1, 0x41, 0x9a, 0}, auInfo{}, []uint8{1}},
		{"truncated start code", []byte{0, 0, 1}, auInfo{}, nil},
		{"empty", nil, auInfo{}, nil},
		{"sei then idr", []byte{0, 0, 1, 0x06, 5, 0, 0, 1, 0x25}, auInfo{idr: true}, []uint8{6, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanAU(tt.in); got != tt.want {
				t.Errorf("scanAU = %+v, want %+v", got, tt.want)
			}
			if got := collect(tt.in); !bytes.Equal(got, tt.nals) {
				t.Errorf("nal types %v, want %v", got, tt.nals)
			}
		})
	}
}

func FuzzNALTypes(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0, 0, 1, 0x65, 0x88})
	f.Add([]byte{0, 0, 1, 0, 0, 1, 5})
	f.Add([]byte{0, 0, 0, 0, 0, 1})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := collect(b), naiveNALTypes(b)
		if !bytes.Equal(got, want) {
			t.Fatalf("nalTypes %v, reference %v for % x", got, want, b)
		}
		_ = scanAU(b)
	})
}
