package display

import (
	"sync"

	"tether/media"
	"tether/media/v4l2"
)

// selfMaxWidth bounds the kept copy of the counter's own picture: it is
// shown at a quarter of the screen width, so 320 pixels suffice up to a
// 1280-wide screen and the copy stays cheap for the camera's goroutine.
const selfMaxWidth = 320

// selfBox is the latest own picture, downscaled, written by the capture
// pipeline's goroutine and read by Run (latest wins).
type selfBox struct {
	mu   sync.Mutex
	pic  Picture // I420, owned by the box
	buf  []byte
	seq  uint64
	have bool
}

// put downsamples f (I420, NV12 or YUYV; other formats are ignored) into
// the box by whole steps, nearest neighbour. It does not allocate once the
// buffer has grown.
func (b *selfBox) put(f media.RawFrame) {
	step := max(1, (f.Width+selfMaxWidth-1)/selfMaxWidth)
	w, h := (f.Width/step)&^1, (f.Height/step)&^1
	if w < 2 || h < 2 {
		return
	}
	var need int
	switch f.Format {
	case v4l2.PixFmtYUV420, v4l2.PixFmtNV12:
		need = f.Width * f.Height * 3 / 2
	case v4l2.PixFmtYUYV:
		need = f.Width * f.Height * 2
	}
	if need == 0 || len(f.Data) < need {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := w * h * 3 / 2
	if cap(b.buf) < n {
		b.buf = make([]byte, n)
	}
	buf := b.buf[:n]
	y, u, v := buf[:w*h], buf[w*h:w*h+w*h/4], buf[w*h+w*h/4:]
	cw := w / 2
	switch f.Format {
	case v4l2.PixFmtYUV420, v4l2.PixFmtNV12:
		for r := 0; r < h; r++ {
			src := f.Data[r*step*f.Width:]
			for c := 0; c < w; c++ {
				y[r*w+c] = src[c*step]
			}
		}
		ys := f.Width * f.Height
		for r := 0; r < h/2; r++ {
			sr := r * step
			for c := 0; c < cw; c++ {
				sc := c * step
				if f.Format == v4l2.PixFmtNV12 {
					i := ys + sr*f.Width + 2*sc
					u[r*cw+c], v[r*cw+c] = f.Data[i], f.Data[i+1]
				} else {
					i := sr*(f.Width/2) + sc
					u[r*cw+c], v[r*cw+c] = f.Data[ys+i], f.Data[ys+ys/4+i]
				}
			}
		}
	case v4l2.PixFmtYUYV:
		for r := 0; r < h; r++ {
			src := f.Data[r*step*f.Width*2:]
			for c := 0; c < w; c++ {
				y[r*w+c] = src[2*c*step]
			}
			if r%2 == 0 {
				for c := 0; c < cw; c++ {
					i := 4 * (c * step)
					u[r/2*cw+c], v[r/2*cw+c] = src[i+1], src[i+3]
				}
			}
		}
	}
	b.pic = Picture{Y: y, U: u, V: v, YStride: w, CStride: cw, Width: w, Height: h}
	b.seq++
	b.have = true
}
