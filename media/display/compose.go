package display

import (
	"image"
	"strings"
	"unsafe"

	"golang.org/x/image/font/basicfont"

	"tether/media/drm"
)

// Picture is a decoded or captured picture in I420 or NV12: NV12 has its
// interleaved CbCr in U (V nil), as the V4L2 decoders deliver it.
type Picture struct {
	Y, U, V          []byte
	YStride, CStride int
	Width, Height    int
}

// valid checks that the planes hold Width x Height.
func (p *Picture) valid() bool {
	if p.Width < 2 || p.Height < 2 || p.YStride < p.Width || len(p.Y) < p.YStride*(p.Height-1)+p.Width {
		return false
	}
	cw, ch := (p.Width+1)/2, (p.Height+1)/2
	if p.V == nil { // NV12
		return p.CStride >= 2*cw && len(p.U) >= p.CStride*(ch-1)+2*cw
	}
	return p.CStride >= cw && len(p.U) >= p.CStride*(ch-1)+cw && len(p.V) >= p.CStride*(ch-1)+cw
}

// BT.601 limited-range YCbCr to RGB in 16.16 fixed point, as tables: the
// customer's browser encodes with BT.601 limited range for SD WebRTC video.
var (
	tabY         [256]int32
	tabRV, tabGU [256]int32
	tabGV, tabBU [256]int32
	clampTab     [1024]uint8
	clampOff     int32 = 384
)

func init() {
	for i := range 256 {
		tabY[i] = int32((float64(i) - 16) * 1.164 * 65536)
		c := float64(i) - 128
		tabRV[i] = int32(1.596 * c * 65536)
		tabGU[i] = int32(0.391 * c * 65536)
		tabGV[i] = int32(0.813 * c * 65536)
		tabBU[i] = int32(2.018 * c * 65536)
	}
	for i := range clampTab {
		clampTab[i] = uint8(max(0, min(255, i-int(clampOff))))
	}
}

func clamp(v int32) uint8 { return clampTab[(v>>16)+clampOff] }

// Compositor draws pictures into XRGB8888 screen buffers. Its scratch (the
// column maps) is reused between frames; it is owned by the display's Run
// goroutine.
type Compositor struct {
	xmap []int    // destination column -> source column
	row  []uint32 // one source row in XRGB
}

// fit returns the largest rectangle of the source aspect inside area,
// centred (aspect kept, letterboxed or pillarboxed).
func fit(sw, sh int, area image.Rectangle) image.Rectangle {
	aw, ah := area.Dx(), area.Dy()
	w, h := aw, aw*sh/sw
	if h > ah {
		w, h = ah*sw/sh, ah
	}
	w, h = max(w&^1, 2), max(h&^1, 2)
	x0 := area.Min.X + (aw-w)/2
	y0 := area.Min.Y + (ah-h)/2
	return image.Rect(x0, y0, x0+w, y0+h)
}

// Fill paints r in one colour (0xRRGGBB).
func Fill(b drm.Buffer, r image.Rectangle, rgb uint32) {
	r = r.Intersect(image.Rect(0, 0, b.Width, b.Height))
	px := [4]byte{byte(rgb), byte(rgb >> 8), byte(rgb >> 16), 0xff}
	if r.Empty() {
		return
	}
	row := b.Pix[r.Min.Y*b.Stride+4*r.Min.X : r.Min.Y*b.Stride+4*r.Max.X]
	for i := 0; i < len(row); i += 4 {
		copy(row[i:i+4], px[:])
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		copy(b.Pix[y*b.Stride+4*r.Min.X:], row)
	}
}

// Draw scales p into r of b (nearest neighbour, BT.601 to RGB). Each
// source row is converted once, at the source's width, into an XRGB row
// that the destination columns gather from; destination rows that map to
// the same source row (upscaling) are copies of the one above. It does
// not allocate once its scratch has grown to the widest picture.
func (c *Compositor) Draw(b drm.Buffer, r image.Rectangle, p *Picture) {
	r = r.Intersect(image.Rect(0, 0, b.Width, b.Height))
	if r.Empty() || !p.valid() {
		return
	}
	w, h := r.Dx(), r.Dy()
	if cap(c.xmap) < w {
		c.xmap = make([]int, w)
	}
	if cap(c.row) < p.Width {
		c.row = make([]uint32, p.Width)
	}
	xm, row := c.xmap[:w], c.row[:p.Width]
	for x := range xm {
		xm[x] = x * p.Width / w
	}
	prevSy := -1
	for y := 0; y < h; y++ {
		off := (r.Min.Y+y)*b.Stride + 4*r.Min.X
		out := b.Pix[off : off+4*w : off+4*w]
		sy := y * p.Height / h
		if sy == prevSy {
			copy(out, b.Pix[off-b.Stride:off-b.Stride+4*w])
			continue
		}
		prevSy = sy
		c.convertRow(p, sy, row)
		// The buffer as 32-bit pixels: rows start 4-byte aligned (dumb
		// buffers are page-aligned with pitches in whole pixels) and every
		// GOARCH we ship is little-endian, so this is XRGB8888's layout.
		px := unsafe.Slice((*uint32)(unsafe.Pointer(&out[0])), w)
		for x, sx := range xm {
			px[x] = row[sx]
		}
	}
}

// convertRow converts source row sy of p into XRGB8888 pixels.
func (c *Compositor) convertRow(p *Picture, sy int, row []uint32) {
	yrow := p.Y[sy*p.YStride : sy*p.YStride+p.Width]
	cbase := sy / 2 * p.CStride
	if p.V == nil { // NV12: Cb, Cr interleaved
		crow := p.U[cbase : cbase+2*((p.Width+1)/2)]
		for x, yv := range yrow {
			i := x &^ 1
			row[x] = xrgb(tabY[yv], crow[i], crow[i+1])
		}
		return
	}
	n := (p.Width + 1) / 2
	urow, vrow := p.U[cbase:cbase+n], p.V[cbase:cbase+n]
	for x, yv := range yrow {
		row[x] = xrgb(tabY[yv], urow[x/2], vrow[x/2])
	}
}

func xrgb(l int32, cb, cr byte) uint32 {
	r := clamp(l + tabRV[cr])
	g := clamp(l - tabGU[cb] - tabGV[cr])
	bl := clamp(l + tabBU[cb])
	return uint32(bl) | uint32(g)<<8 | uint32(r)<<16 | 0xff000000
}

// Colours of the screens (0xRRGGBB).
const (
	colourBackground = 0x000000
	colourStatus     = 0x10243a // dark blue: "the screen works, no call"
	colourText       = 0xf0f0f0
	colourFrame      = 0xf0f0f0
)

// Layout is where a call's pictures go on a screen of w x h: the customer
// full screen with the aspect kept, the counter's own picture a quarter of
// the width in the bottom-right corner, inset by a margin.
func Layout(w, h, custW, custH, selfW, selfH int) (cust, self image.Rectangle) {
	screen := image.Rect(0, 0, w, h)
	if custW > 0 && custH > 0 {
		cust = fit(custW, custH, screen)
	}
	if selfW > 0 && selfH > 0 {
		m := max(h/40, 4)
		sw := w / 4
		sh := sw * selfH / selfW
		self = image.Rect(w-m-sw, h-m-sh, w-m, h-m)
	}
	return cust, self
}

// Call composes one frame of a call into b: black bars, the customer, and
// (when self is valid) the counter's own picture with a thin frame.
func (c *Compositor) Call(b drm.Buffer, cust, self *Picture) {
	cr, sr := Layout(b.Width, b.Height, cust.Width, cust.Height, self.Width, self.Height)
	screen := image.Rect(0, 0, b.Width, b.Height)
	// Bars only where the customer does not cover.
	Fill(b, image.Rect(0, 0, b.Width, cr.Min.Y), colourBackground)
	Fill(b, image.Rect(0, cr.Max.Y, b.Width, b.Height), colourBackground)
	Fill(b, image.Rect(0, cr.Min.Y, cr.Min.X, cr.Max.Y), colourBackground)
	Fill(b, image.Rect(cr.Max.X, cr.Min.Y, b.Width, cr.Max.Y), colourBackground)
	if cr.Empty() {
		Fill(b, screen, colourBackground)
	}
	c.Draw(b, cr, cust)
	if self.valid() && !sr.Empty() {
		Fill(b, sr.Inset(-2), colourFrame)
		c.Draw(b, sr, self)
	}
}

// DrawStatus draws the no-call screen: a plain background and the lines of
// text centred, in basicfont's 7x13 face scaled up by a whole factor so
// the longest line spans at most three quarters of the width.
func DrawStatus(b drm.Buffer, lines ...string) {
	Fill(b, image.Rect(0, 0, b.Width, b.Height), colourStatus)
	face := basicfont.Face7x13
	longest := 1
	lines = append([]string(nil), lines...)
	for i, l := range lines {
		// basicfont is ASCII: spell the ellipsis out ("reconnecting…").
		lines[i] = strings.ReplaceAll(l, "…", "...")
		l = lines[i]
		longest = max(longest, len(l))
	}
	scale := max(1, min(b.Width*3/4/(longest*face.Advance), b.Height/(4*len(lines)+1)/face.Height))
	lineH := face.Height * scale * 3 / 2
	y := (b.Height - lineH*len(lines)) / 2
	for i, l := range lines {
		if i > 0 {
			scale = max(1, scale*2/3) // later lines are details
		}
		x := (b.Width - len(l)*face.Advance*scale) / 2
		drawText(b, x, y, scale, l)
		y += lineH
	}
}

// drawText renders s with its top-left at (x, y), each font pixel a
// scale x scale block.
func drawText(b drm.Buffer, x, y, scale int, s string) {
	face := basicfont.Face7x13
	for _, r := range s {
		idx := -1
		for _, rg := range face.Ranges {
			if r >= rg.Low && r < rg.High {
				idx = rg.Offset + int(r-rg.Low)
				break
			}
		}
		if idx < 0 {
			idx = 95 // U+FFFD, the replacement glyph
		}
		for fy := 0; fy < face.Height; fy++ {
			for fx := 0; fx < face.Width; fx++ {
				if face.Mask.(*image.Alpha).AlphaAt(fx, idx*face.Height+fy).A < 0x80 {
					continue
				}
				px := x + fx*scale
				py := y + fy*scale
				Fill(b, image.Rect(px, py, px+scale, py+scale), colourText)
			}
		}
		x += face.Advance * scale
	}
}
