package testsrc

import (
	"fmt"
	"time"
)

// barsY, barsU, barsV are the eight SMPTE-like colour bars (BT.601, limited
// range): white, yellow, cyan, green, magenta, red, blue, black.
var (
	barsY = [8]byte{235, 210, 170, 145, 106, 81, 41, 16}
	barsU = [8]byte{128, 16, 166, 54, 202, 90, 240, 128}
	barsV = [8]byte{128, 146, 16, 34, 222, 240, 110, 128}
)

// Pattern renders the moving test pattern into one reused I420 buffer:
// colour bars scrolling one step per frame, a bouncing grey square, and the
// stamp band at the top. It is not safe for concurrent use.
type Pattern struct {
	w, h  int
	frame []byte // I420: Y, then U, then V; reused for every frame
	// rowY, rowU, rowV are two periods of the bar row, so a frame's row is
	// a window into them at the scroll offset.
	rowY, rowU, rowV []byte
}

// NewPattern returns a Pattern for width x height (even, at least 64x32).
func NewPattern(width, height int) (*Pattern, error) {
	if width < 64 || height < 32 || width%2 != 0 || height%2 != 0 {
		return nil, fmt.Errorf("%w: %dx%d (even, at least 64x32)", ErrSize, width, height)
	}
	if StampHeight(width) > height/2 {
		return nil, fmt.Errorf("%w: %dx%d too short for the stamp", ErrSize, width, height)
	}
	p := &Pattern{w: width, h: height, frame: make([]byte, width*height*3/2)}
	p.rowY = make([]byte, 2*width)
	p.rowU = make([]byte, width)
	p.rowV = make([]byte, width)
	for x := range p.rowY {
		p.rowY[x] = barsY[(x%width)*8/width]
	}
	for x := range p.rowU {
		b := ((x % (width / 2)) * 2) * 8 / width
		p.rowU[x], p.rowV[x] = barsU[b], barsV[b]
	}
	return p, nil
}

// Size returns the frame size in bytes (width*height*3/2).
func (p *Pattern) Size() int { return len(p.frame) }

// Render draws frame number n stamped with capture time t and returns the
// I420 picture. The slice is the Pattern's own buffer: it is valid until
// the next Render. Render does not allocate.
func (p *Pattern) Render(n uint64, t time.Time) []byte {
	w, h := p.w, p.h
	cw, ch := w/2, h/2
	y := p.frame[:w*h]
	u := p.frame[w*h : w*h+cw*ch]
	v := p.frame[w*h+cw*ch:]

	// Scroll the bars by 4 luma pixels a frame (2 chroma pixels).
	off := int(n*4) % w
	coff := off / 2
	for r := 0; r < h; r++ {
		copy(y[r*w:(r+1)*w], p.rowY[off:off+w])
	}
	for r := 0; r < ch; r++ {
		copy(u[r*cw:(r+1)*cw], p.rowU[coff:coff+cw])
		copy(v[r*cw:(r+1)*cw], p.rowV[coff:coff+cw])
	}

	// A square bouncing along a diagonal below the stamp band; it turns
	// white in the first quarter of every second, in step with the tone's
	// beep, so audio/video sync can be eyeballed.
	top := StampHeight(w) + 4
	side := (h - top) / 4 &^ 1
	spanX, spanY := w-side, h-top-side
	px := bounce(int(n*6), spanX) &^ 1
	py := top + bounce(int(n*3), spanY)&^1
	lum := byte(128)
	if t.UnixMilli()%1000 < 250 {
		lum = 235
	}
	for r := py; r < py+side; r++ {
		row := y[r*w+px : r*w+px+side]
		for i := range row {
			row[i] = lum
		}
	}
	for r := py / 2; r < (py+side)/2; r++ {
		ru := u[r*cw+px/2 : r*cw+(px+side)/2]
		rv := v[r*cw+px/2 : r*cw+(px+side)/2]
		for i := range ru {
			ru[i], rv[i] = 128, 128
		}
	}

	// The stamp band: neutral chroma, then the cells in luma.
	sh := StampHeight(w)
	for r := 0; r < sh/2; r++ {
		for i := r * cw; i < (r+1)*cw; i++ {
			u[i], v[i] = 128, 128
		}
	}
	// The stamp cannot fail: NewPattern checked the size.
	_ = WriteStamp(y, w, w, uint64(t.UnixMilli()))
	return p.frame
}

// bounce maps a growing position onto 0..span and back.
func bounce(pos, span int) int {
	if span <= 0 {
		return 0
	}
	pos %= 2 * span
	if pos > span {
		return 2*span - pos
	}
	return pos
}
