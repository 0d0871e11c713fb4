package testsrc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRing is a Speaker's ring when its Ring is zero: about what the
// ALSA speaker keeps queued (media/alsa's stream defaults).
const DefaultRing = 30 * time.Millisecond

// Speaker is a sound card on the real clock, for the sim board ("speaker
// test") and the tests: Write paces its caller at 48 kHz mono as WRITEI on
// a full ring of Ring does, and the last Keep samples played are kept
// (none when Keep is 0, so the sim board's speaker costs no memory). It
// never fails and may be opened again after Close.
type Speaker struct {
	Ring time.Duration // default DefaultRing
	Keep int           // samples kept for Played; bounded by the caller

	opens atomic.Int32
	mu    sync.Mutex
	next  time.Time // when the last sample written will have played
	pcm   []int16
}

// Open counts an open and returns the speaker itself.
func (s *Speaker) Open() (*Speaker, error) {
	s.opens.Add(1)
	return s, nil
}

// Opens is how many times Open was called.
func (s *Speaker) Opens() int { return int(s.opens.Load()) }

// Write queues pcm and returns when the ring has room again (at once when
// the ring ran dry, as after an underrun), or when ctx ends.
func (s *Speaker) Write(ctx context.Context, pcm []int16) error {
	ring := s.Ring
	if ring <= 0 {
		ring = DefaultRing
	}
	s.mu.Lock()
	now := time.Now()
	if s.next.Before(now) {
		s.next = now
	}
	s.next = s.next.Add(time.Duration(len(pcm)) * time.Second / SampleRate)
	wait := s.next.Sub(now) - ring
	if s.Keep > 0 {
		s.pcm = append(s.pcm, pcm...)
		if over := len(s.pcm) - s.Keep; over > 0 {
			s.pcm = append(s.pcm[:0], s.pcm[over:]...)
		}
	}
	s.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Close does nothing: the kept samples stay readable.
func (s *Speaker) Close() error { return nil }

// Played returns a copy of the last d of the kept samples (at most Keep)
// and the wall time at which the last of them leaves the speaker.
func (s *Speaker) Played(d time.Duration) (pcm []int16, end time.Time) {
	n := int(d * SampleRate / time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.pcm[max(0, len(s.pcm)-n):]...), s.next
}
