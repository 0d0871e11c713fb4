package display

import (
	"image"
	"strings"
	"testing"

	"golang.org/x/image/font/basicfont"

	"tether/media/drm"
)

func newBuffer(w, h int) drm.Buffer {
	return drm.Buffer{Pix: make([]byte, (4*w+16)*h), Stride: 4*w + 16, Width: w, Height: h}
}

func TestLayout(t *testing.T) {
	cases := []struct {
		name                 string
		w, h, cw, ch, sw, sh int
		cust, self           image.Rectangle
	}{
		{"4:3 customer on 16:9 screen: pillarbox", 1920, 1080, 640, 480, 640, 360,
			image.Rect(240, 0, 1680, 1080), image.Rect(1893-480, 1053-270, 1893, 1053)},
		{"16:9 customer on 4:3 screen: letterbox", 1024, 768, 1280, 720, 640, 480,
			image.Rect(0, 96, 1024, 672), image.Rect(1005-256, 749-192, 1005, 749)},
		{"portrait phone on 16:9", 1280, 720, 480, 640, 640, 480,
			image.Rect(370, 0, 910, 720), image.Rect(1262-320, 702-240, 1262, 702)},
		{"no self picture", 800, 600, 800, 600, 0, 0, image.Rect(0, 0, 800, 600), image.Rectangle{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cust, self := Layout(c.w, c.h, c.cw, c.ch, c.sw, c.sh)
			if cust != c.cust || self != c.self {
				t.Fatalf("Layout = %v, %v; want %v, %v", cust, self, c.cust, c.self)
			}
			// Aspect kept within a pixel of rounding.
			if d := cust.Dx()*c.ch - cust.Dy()*c.cw; d < -2*c.cw || d > 2*c.cw {
				t.Fatalf("aspect of %v off for %dx%d", cust, c.cw, c.ch)
			}
		})
	}
}

// solid returns an I420 picture of one colour.
func solid(w, h int, y, u, v byte) *Picture {
	p := &Picture{Width: w, Height: h, YStride: w, CStride: w / 2,
		Y: make([]byte, w*h), U: make([]byte, w*h/4), V: make([]byte, w*h/4)}
	for i := range p.Y {
		p.Y[i] = y
	}
	for i := range p.U {
		p.U[i], p.V[i] = u, v
	}
	return p
}

func pixel(b drm.Buffer, x, y int) (r, g, bl byte) {
	o := y*b.Stride + 4*x
	return b.Pix[o+2], b.Pix[o+1], b.Pix[o]
}

func near(a, b byte) bool { return a-b < 4 || b-a < 4 }

func TestCallComposition(t *testing.T) {
	b := newBuffer(320, 180)
	var c Compositor
	// BT.601 limited range: red is Y 81, Cb 90, Cr 240; green Y 145, Cb 54, Cr 34.
	cust := solid(160, 120, 81, 90, 240)
	self := solid(64, 48, 145, 54, 34)
	c.Call(b, cust, self)
	cr, sr := Layout(320, 180, 160, 120, 64, 48)
	checks := []struct {
		name    string
		x, y    int
		r, g, b byte
	}{
		{"customer centre is red", cr.Min.X + cr.Dx()/4, cr.Min.Y + cr.Dy()/2, 255, 0, 0},
		{"pillar bar is black", cr.Min.X / 2, 90, 0, 0, 0},
		{"own picture is green", (sr.Min.X + sr.Max.X) / 2, (sr.Min.Y + sr.Max.Y) / 2, 0, 255, 0},
		{"own picture has a white frame", sr.Min.X - 1, sr.Min.Y + 2, 240, 240, 240},
	}
	for _, k := range checks {
		r, g, bl := pixel(b, k.x, k.y)
		if !near(r, k.r) || !near(g, k.g) || !near(bl, k.b) {
			t.Errorf("%s: (%d,%d) is %d,%d,%d; want %d,%d,%d", k.name, k.x, k.y, r, g, bl, k.r, k.g, k.b)
		}
	}
	// NV12 gives the same picture as I420.
	nv := &Picture{Width: 160, Height: 120, YStride: 160, CStride: 160, Y: cust.Y, U: make([]byte, 160*60)}
	for i := 0; i < len(nv.U); i += 2 {
		nv.U[i], nv.U[i+1] = 90, 240
	}
	b2 := newBuffer(320, 180)
	c.Call(b2, nv, self)
	if string(b2.Pix) != string(b.Pix) {
		t.Error("NV12 and I420 of the same picture compose differently")
	}
	// A picture whose planes are too short is refused, not read past.
	c.Draw(b, image.Rect(0, 0, 10, 10), &Picture{Width: 100, Height: 100, YStride: 100, Y: make([]byte, 10)})
}

// readText recognises n characters drawn by drawText at (x, y) with the
// given scale, by matching each cell against every basicfont glyph: the
// status screen must read back as the words it was asked to show.
func readText(b drm.Buffer, x, y, scale, n int) string {
	face := basicfont.Face7x13
	var sb strings.Builder
	for i := 0; i < n; i++ {
		best, bestErr := '?', 1<<30
		for r := rune(32); r < 127; r++ {
			idx := int(r - 32)
			errs := 0
			for fy := 0; fy < face.Height; fy++ {
				for fx := 0; fx < face.Width; fx++ {
					on := face.Mask.(*image.Alpha).AlphaAt(fx, idx*face.Height+fy).A >= 0x80
					pr, _, _ := pixel(b, x+fx*scale+scale/2, y+fy*scale+scale/2)
					if on != (pr > 0xc0) {
						errs++
					}
				}
			}
			if errs < bestErr {
				best, bestErr = r, errs
			}
		}
		sb.WriteRune(best)
		x += face.Advance * scale
	}
	return sb.String()
}

func TestStatusScreen(t *testing.T) {
	for _, size := range []image.Point{{1920, 1080}, {1024, 768}, {640, 480}, {320, 240}} {
		b := newBuffer(size.X, size.Y)
		lines := []string{"waiting for a customer", "reconnecting…"}
		DrawStatus(b, lines...)
		// Recompute where the first line went (as DrawStatus does) and
		// read it back.
		face := basicfont.Face7x13
		scale := max(1, min(b.Width*3/4/(len("waiting for a customer")*face.Advance), b.Height/(4*2+1)/face.Height))
		lineH := face.Height * scale * 3 / 2
		y := (b.Height - lineH*2) / 2
		x := (b.Width - len(lines[0])*face.Advance*scale) / 2
		if got := readText(b, x, y, scale, len(lines[0])); got != lines[0] {
			t.Errorf("%v: first line reads %q", size, got)
		}
		s2 := max(1, scale*2/3)
		second := "reconnecting..."
		x2 := (b.Width - len(second)*face.Advance*s2) / 2
		if got := readText(b, x2, y+lineH, s2, len(second)); got != second {
			t.Errorf("%v: second line reads %q", size, got)
		}
		if lines[1] != "reconnecting…" {
			t.Error("DrawStatus changed the caller's slice")
		}
		// Large on a big screen: at least a quarter of the width.
		if w := len(lines[0]) * face.Advance * scale; w < b.Width/4 {
			t.Errorf("%v: text %d px wide", size, w)
		}
	}
}
