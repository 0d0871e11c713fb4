package swdec

import (
	"fmt"
	"sync"
)

// MaxAccessUnit bounds one coded picture handed to Decode. A 1080p
// constrained-baseline IDR at WebRTC bitrates is well under 1 MB.
const MaxAccessUnit = 4 << 20

// Config describes one decoder. Zero fields take the defaults noted.
type Config struct {
	// MaxWidth and MaxHeight bound the pictures the decoder hands out
	// (default 1920x1088): a customer sending more is refused with
	// ErrTooLarge rather than filling the board's memory.
	MaxWidth, MaxHeight int
}

func (c *Config) setDefaults() {
	if c.MaxWidth == 0 {
		c.MaxWidth = 1920
	}
	if c.MaxHeight == 0 {
		c.MaxHeight = 1088
	}
}

// Picture is one decoded I420 picture. Its planes point into the decoder's
// memory and are valid only until the next Decode or Close.
type Picture struct {
	Y, U, V          []byte
	YStride, CStride int
	Width, Height    int
}

// H264 decodes an H.264 Annex B stream. It is safe for use by one goroutine
// at a time (the display's decode loop); Close may come from any.
type H264 struct {
	cfg  Config
	mu   sync.Mutex
	impl *h264Impl // nil once closed
}

// NewH264 creates a decoder. With cgo off it returns ErrNoSoftwareDecoder.
func NewH264(cfg Config) (*H264, error) {
	cfg.setDefaults()
	impl, err := newH264Impl()
	if err != nil {
		return nil, err
	}
	return &H264{cfg: cfg, impl: impl}, nil
}

// Decode decodes one access unit (Annex B, start codes included). ok
// reports whether a picture came out (parameter sets alone give none).
// ErrNeedKeyframe means the stream cannot be decoded until the next IDR.
func (d *H264) Decode(au []byte) (p Picture, ok bool, err error) {
	if len(au) > MaxAccessUnit {
		return Picture{}, false, fmt.Errorf("%w: access unit of %d bytes", ErrTooLarge, len(au))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return Picture{}, false, ErrClosed
	}
	if len(au) == 0 {
		return Picture{}, false, nil
	}
	p, ok, err = d.impl.decode(au)
	if err != nil || !ok {
		return Picture{}, false, err
	}
	if p.Width > d.cfg.MaxWidth || p.Height > d.cfg.MaxHeight || p.Width <= 0 || p.Height <= 0 {
		return Picture{}, false, fmt.Errorf("%w: %dx%d (max %dx%d)", ErrTooLarge, p.Width, p.Height, d.cfg.MaxWidth, d.cfg.MaxHeight)
	}
	return p, true, nil
}

// Close frees the decoder; later Decodes return ErrClosed.
func (d *H264) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return nil
	}
	d.impl.close()
	d.impl = nil
	return nil
}
