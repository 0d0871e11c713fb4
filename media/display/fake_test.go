package display

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"tether/media/drm"
)

// memScreen is an in-memory Screen with two buffers; front is what a
// monitor would show.
type memScreen struct {
	mu       sync.Mutex
	w, h     int
	bufs     [2][]byte
	front    int
	presents int
	closed   bool
	opens    *int
	shown    chan struct{} // a kick per Present
}

func newMemScreen(w, h int) *memScreen {
	s := &memScreen{w: w, h: h, shown: make(chan struct{}, 1)}
	s.bufs[0], s.bufs[1] = make([]byte, 4*w*h), make([]byte, 4*w*h)
	return s
}

func (s *memScreen) Info() drm.Info {
	return drm.Info{Path: "mem", Width: s.w, Height: s.h, Refresh: 60}
}

func (s *memScreen) Back() drm.Buffer {
	return drm.Buffer{Pix: s.bufs[1-s.front], Stride: 4 * s.w, Width: s.w, Height: s.h}
}

func (s *memScreen) Present() error {
	s.mu.Lock()
	s.front = 1 - s.front
	s.presents++
	s.mu.Unlock()
	select {
	case s.shown <- struct{}{}:
	default:
	}
	return nil
}

func (s *memScreen) Close() error { s.closed = true; return nil }

// Capture copies the front buffer (the in-memory screen's "writeback").
func (s *memScreen) Capture(time.Duration) (drm.Buffer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return drm.Buffer{Pix: append([]byte(nil), s.bufs[s.front]...), Stride: 4 * s.w, Width: s.w, Height: s.h}, nil
}

// memTrack is an in-memory customer track: ReadRTP hands out the queued
// packets and io.EOF once closed, as a TrackRemote does when its peer
// connection closes.
type memTrack struct {
	ch   chan *rtp.Packet
	once sync.Once
	done chan struct{}
	seq  uint16 // last sequence number and timestamp sent (test goroutine)
	ts   uint32
}

func newMemTrack() *memTrack {
	return &memTrack{ch: make(chan *rtp.Packet, 4096), done: make(chan struct{})}
}

func (m *memTrack) ReadRTP() (*rtp.Packet, interceptor.Attributes, error) {
	select {
	case p := <-m.ch:
		return p, nil, nil
	case <-m.done:
		return nil, nil, io.EOF
	}
}

func (m *memTrack) close() { m.once.Do(func() { close(m.done) }) }

var errFake = errors.New("fake")
