package v4l2m2m

// H.264 Annex B scanning (ITU-T H.264 Annex B.1: a byte stream of NAL units
// each preceded by a 0x000001 start code, optionally with a leading zero
// byte). NAL unit type is the low five bits of the first byte after the start
// code (section 7.3.1): 5 = IDR slice, 7 = SPS, 8 = PPS, 1 = non-IDR slice.
const (
	nalSlice = 1
	nalIDR   = 5
	nalSPS   = 7
	nalPPS   = 8
)

// nalTypes calls fn with the type of each NAL unit in an Annex B access
// unit, in order, until fn returns false. It never reads out of bounds,
// whatever the input.
func nalTypes(b []byte, fn func(t uint8) bool) {
	zeros := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0 {
			zeros++
			continue
		}
		if c == 1 && zeros >= 2 && i+1 < len(b) {
			if !fn(b[i+1] & 0x1f) {
				return
			}
			i++
		}
		zeros = 0
	}
}

// auInfo summarises an access unit: whether it holds an IDR slice and
// whether it carries SPS and PPS.
type auInfo struct {
	idr, sps, pps bool
}

func scanAU(b []byte) auInfo {
	var a auInfo
	nalTypes(b, func(t uint8) bool {
		switch t {
		case nalIDR:
			a.idr = true
		case nalSPS:
			a.sps = true
		case nalPPS:
			a.pps = true
		}
		return true
	})
	return a
}
