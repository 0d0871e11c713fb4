package media

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"tether/media/v4l2"
)

// frameBytes is the packed size of a w x h picture in format pix.
func frameBytes(pix uint32, w, h int) int {
	switch pix {
	case v4l2.PixFmtYUV420, v4l2.PixFmtNV12:
		return w * h * 3 / 2
	case v4l2.PixFmtYUYV:
		return w * h * 2
	}
	return 0
}

// converter turns camera frames into the encoder's input format, into one
// reused buffer (owned by the video goroutine).
type converter struct {
	buf  []byte
	jpeg []byte // an MJPEG frame with Huffman tables inserted
}

// toI420 converts f to packed I420 and returns the picture, which is f.Data
// itself when f is I420 already. NV12 and YUYV do not allocate once buf
// has grown; MJPEG decodes through image/jpeg, which allocates.
func (c *converter) toI420(f RawFrame) ([]byte, error) {
	w, h := f.Width, f.Height
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 {
		return nil, fmt.Errorf("%w: size %dx%d", ErrFormat, w, h)
	}
	if f.Format != v4l2.PixFmtMJPEG {
		if need := frameBytes(f.Format, w, h); need == 0 || len(f.Data) < need {
			return nil, fmt.Errorf("%w: %s %dx%d with %d bytes", ErrFormat, v4l2.FourccString(f.Format), w, h, len(f.Data))
		}
	}
	if f.Format == v4l2.PixFmtYUV420 {
		return f.Data[:w*h*3/2], nil
	}
	n := w * h * 3 / 2
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	dst := c.buf[:n]
	switch f.Format {
	case v4l2.PixFmtNV12:
		nv12ToI420(dst, f.Data, w, h)
	case v4l2.PixFmtYUYV:
		yuyvToI420(dst, f.Data, w, h)
	case v4l2.PixFmtMJPEG:
		c.jpeg = withHuffman(f.Data, c.jpeg)
		img, err := jpeg.Decode(bytes.NewReader(c.jpeg))
		if err != nil {
			return nil, fmt.Errorf("%w: MJPEG: %v", ErrFormat, err)
		}
		yc, ok := img.(*image.YCbCr)
		if !ok || yc.Rect.Dx() != w || yc.Rect.Dy() != h {
			return nil, fmt.Errorf("%w: MJPEG frame is %T %v, want YCbCr %dx%d", ErrFormat, img, img.Bounds(), w, h)
		}
		ycbcrToI420(dst, yc)
	default:
		return nil, fmt.Errorf("%w: %s", ErrFormat, v4l2.FourccString(f.Format))
	}
	return dst, nil
}

// nv12ToI420 splits NV12's interleaved UV plane into U and V.
func nv12ToI420(dst, src []byte, w, h int) {
	ys := w * h
	copy(dst[:ys], src[:ys])
	uv := src[ys : ys+ys/2]
	u := dst[ys : ys+ys/4]
	v := dst[ys+ys/4 : ys+ys/2]
	for i := range u {
		u[i] = uv[2*i]
		v[i] = uv[2*i+1]
	}
}

// yuyvToI420 converts packed 4:2:2 (Y0 U Y1 V) to planar 4:2:0, averaging
// the chroma of each pair of rows.
func yuyvToI420(dst, src []byte, w, h int) {
	ys := w * h
	y := dst[:ys]
	u := dst[ys : ys+ys/4]
	v := dst[ys+ys/4 : ys+ys/2]
	cw := w / 2
	for r := 0; r < h; r += 2 {
		a := src[r*w*2 : (r+1)*w*2]
		b := src[(r+1)*w*2 : (r+2)*w*2]
		ya := y[r*w : (r+1)*w]
		yb := y[(r+1)*w : (r+2)*w]
		ur := u[r/2*cw : (r/2+1)*cw]
		vr := v[r/2*cw : (r/2+1)*cw]
		for i := 0; i < cw; i++ {
			ya[2*i], ya[2*i+1] = a[4*i], a[4*i+2]
			yb[2*i], yb[2*i+1] = b[4*i], b[4*i+2]
			ur[i] = byte((uint16(a[4*i+1]) + uint16(b[4*i+1]) + 1) / 2)
			vr[i] = byte((uint16(a[4*i+3]) + uint16(b[4*i+3]) + 1) / 2)
		}
	}
}

// ycbcrToI420 copies a decoded JPEG (4:2:0, 4:2:2 or 4:4:4) into packed
// I420, subsampling chroma by picking the top-left sample.
func ycbcrToI420(dst []byte, img *image.YCbCr) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	ys := w * h
	for r := 0; r < h; r++ {
		copy(dst[r*w:(r+1)*w], img.Y[r*img.YStride:r*img.YStride+w])
	}
	cw := w / 2
	u := dst[ys : ys+ys/4]
	v := dst[ys+ys/4 : ys+ys/2]
	for r := 0; r < h/2; r++ {
		for c := 0; c < cw; c++ {
			i := img.COffset(c*2+img.Rect.Min.X, r*2+img.Rect.Min.Y)
			u[r*cw+c] = img.Cb[i]
			v[r*cw+c] = img.Cr[i]
		}
	}
}
