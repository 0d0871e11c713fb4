// Package h264 scans H.264 Annex B byte streams (ITU-T H.264 Annex B) for
// the NAL unit types the media pipeline cares about. It tells keyframes
// from other pictures and finds SPS and PPS, without allocating, for the
// software encoder's output and cameras that emit H.264 themselves.
package h264

// NAL unit types (ITU-T H.264 Table 7-1).
const (
	NALSlice = 1
	NALIDR   = 5
	NALSEI   = 6
	NALSPS   = 7
	NALPPS   = 8
	NALAUD   = 9
)

// Units calls fn with each NAL unit of the Annex B stream b (without its
// start code), in order, until fn returns false. It does not allocate.
func Units(b []byte, fn func(nal []byte) bool) {
	start := -1 // offset of the current unit's first byte
	i := 0
	for i+2 < len(b) {
		// A start code is 00 00 01 (a 4-byte 00 00 00 01 ends in one).
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 { // trailing_zero_8bits / 4-byte code
					end--
				}
				if end > start && !fn(b[start:end]) {
					return
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		fn(b[start:])
	}
}

// Info summarises one access unit.
type Info struct {
	IDR, SPS, PPS bool
	Slices        int // coded slice NAL units (IDR or not)
}

// Scan reports which NAL types the access unit b holds.
func Scan(b []byte) Info {
	var in Info
	Units(b, func(nal []byte) bool {
		switch nal[0] & 0x1f {
		case NALIDR:
			in.IDR = true
			in.Slices++
		case NALSlice:
			in.Slices++
		case NALSPS:
			in.SPS = true
		case NALPPS:
			in.PPS = true
		}
		return true
	})
	return in
}
