package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"
)

// Many UVC cameras send MJPEG frames without Huffman tables: the UVC
// payload format for MJPEG (like AVI1 Motion-JPEG) implies the standard
// tables of ITU-T T.81 Annex K.3, and image/jpeg will not decode a frame
// without a DHT segment. Go's own JPEG encoder writes exactly the K.3
// tables, so the segment is taken, once, from a tiny encoded image.
var (
	dhtOnce sync.Once
	dhtSeg  []byte // FF C4 ... with the four K.3 tables
)

func standardDHT() []byte {
	dhtOnce.Do(func() {
		var b bytes.Buffer
		img := image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420)
		if err := jpeg.Encode(&b, img, nil); err != nil {
			return
		}
		if seg, ok := findSegment(b.Bytes(), 0xc4); ok {
			dhtSeg = bytes.Clone(seg)
		}
	})
	return dhtSeg
}

// findSegment returns the first marker segment of type m (FF m len ...)
// before the start of scan.
func findSegment(b []byte, m byte) ([]byte, bool) {
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return nil, false
		}
		t := b[i+1]
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return nil, false
		}
		if t == m {
			return b[i : i+2+n], true
		}
		if t == 0xda { // SOS: the tables would have come before
			return nil, false
		}
		i += 2 + n
	}
	return nil, false
}

// withHuffman returns frame, or frame with the standard DHT inserted after
// SOI when it has none, built in scratch.
func withHuffman(frame, scratch []byte) []byte {
	if len(frame) < 4 || frame[0] != 0xff || frame[1] != 0xd8 {
		return frame
	}
	if _, ok := findSegment(frame, 0xc4); ok {
		return frame
	}
	dht := standardDHT()
	if dht == nil {
		return frame
	}
	scratch = append(scratch[:0], frame[:2]...)
	scratch = append(scratch, dht...)
	return append(scratch, frame[2:]...)
}
