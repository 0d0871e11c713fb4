package v4l2m2m

import (
	"fmt"

	"tether/media/v4l2"
)

// frameSize is the size of a tightly packed frame (no row padding).
func frameSize(pix uint32, w, h int) (int, error) {
	switch pix {
	case v4l2.PixFmtNV12, v4l2.PixFmtYUV420:
		return w * h * 3 / 2, nil
	case v4l2.PixFmtYUYV:
		return w * h * 2, nil
	}
	return 0, fmt.Errorf("raw format %s not supported", v4l2.FourccString(pix))
}

// layout is the driver's arrangement of one raw frame in a single memory
// plane: rows of bpl bytes and, for 4:2:0 formats, lumaRows lines of luma
// before the chroma (drivers such as bcm2835-codec pad the height to 16).
type layout struct {
	pix       uint32
	w, h      int
	bpl       int
	lumaRows  int
	sizeImage int
	packed    bool // the driver layout equals the packed one: one copy
}

func newLayout(pix uint32, w, h, bpl, sizeImage int) (layout, error) {
	l := layout{pix: pix, w: w, h: h, bpl: bpl, sizeImage: sizeImage, lumaRows: h}
	rowBytes := w
	if pix == v4l2.PixFmtYUYV {
		rowBytes = 2 * w
	}
	if bpl < rowBytes {
		return l, fmt.Errorf("%w: bytesperline %d < %d", ErrFormat, bpl, rowBytes)
	}
	need, err := frameSize(pix, w, h)
	if err != nil {
		return l, err
	}
	if pix != v4l2.PixFmtYUYV {
		l.lumaRows = max(sizeImage*2/(3*bpl), h)
		need = bpl * l.lumaRows * 3 / 2
	} else {
		need = bpl * h
	}
	if sizeImage < need {
		return l, fmt.Errorf("%w: sizeimage %d < %d", ErrFormat, sizeImage, need)
	}
	l.packed = bpl == rowBytes && l.lumaRows == h
	return l, nil
}

// copyFrame copies a packed frame into driver memory laid out as l and
// returns the bytes used. It does not allocate.
func (l *layout) copyFrame(dst, src []byte) (int, error) {
	n, _ := frameSize(l.pix, l.w, l.h)
	if len(src) < n {
		return 0, fmt.Errorf("%w: %d < %d bytes", ErrFrameSize, len(src), n)
	}
	if len(dst) < l.sizeImage {
		return 0, fmt.Errorf("%w: buffer %d < sizeimage %d", ErrFormat, len(dst), l.sizeImage)
	}
	if l.packed {
		copy(dst, src[:n])
		return max(n, l.sizeImage), nil
	}
	switch l.pix {
	case v4l2.PixFmtYUYV:
		copyPlane(dst, l.bpl, src, 2*l.w, l.h)
	case v4l2.PixFmtNV12:
		copyPlane(dst, l.bpl, src, l.w, l.h)
		copyPlane(dst[l.bpl*l.lumaRows:], l.bpl, src[l.w*l.h:], l.w, l.h/2)
	case v4l2.PixFmtYUV420:
		copyPlane(dst, l.bpl, src, l.w, l.h)
		cb := dst[l.bpl*l.lumaRows:]
		cr := cb[l.bpl/2*l.lumaRows/2:]
		copyPlane(cb, l.bpl/2, src[l.w*l.h:], l.w/2, l.h/2)
		copyPlane(cr, l.bpl/2, src[l.w*l.h*5/4:], l.w/2, l.h/2)
	}
	return l.sizeImage, nil
}

func copyPlane(dst []byte, dstStride int, src []byte, rowBytes, rows int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*dstStride:r*dstStride+rowBytes], src[r*rowBytes:(r+1)*rowBytes])
	}
}
