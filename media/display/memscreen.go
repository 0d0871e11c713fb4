package display

import (
	"sync"

	"tether/media/drm"
)

// MemScreen is a screen in memory: two XRGB8888 buffers swapped on
// Present, nothing shown. It is the sim board's "display test", so a
// benchmark of a two-way call decodes and composes the customer's video as
// on a counter with a monitor, without a DRM device.
type MemScreen struct {
	mu    sync.Mutex
	w, h  int
	bufs  [2][]byte
	front int
}

// NewMemScreen returns a w×h memory screen.
func NewMemScreen(w, h int) *MemScreen {
	s := &MemScreen{w: w, h: h}
	s.bufs[0], s.bufs[1] = make([]byte, 4*w*h), make([]byte, 4*w*h)
	return s
}

// Info describes the screen as a 60 Hz output named "mem".
func (s *MemScreen) Info() drm.Info {
	return drm.Info{Path: "mem", Driver: "mem", Width: s.w, Height: s.h, Refresh: 60}
}

// Back is the buffer to draw the next picture into.
func (s *MemScreen) Back() drm.Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return drm.Buffer{Pix: s.bufs[1-s.front], Stride: 4 * s.w, Width: s.w, Height: s.h}
}

// Present swaps the buffers.
func (s *MemScreen) Present() error {
	s.mu.Lock()
	s.front = 1 - s.front
	s.mu.Unlock()
	return nil
}

// Close does nothing.
func (s *MemScreen) Close() error { return nil }
