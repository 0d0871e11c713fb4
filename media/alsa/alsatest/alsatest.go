// Package alsatest is a scripted ALSA PCM device for the tests of the
// packages that drive one (media/mic, media/speaker): the one fake both
// use, so the two loops are tested against the same device behaviour.
package alsatest

import (
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/alsa"
)

// PCM scripts a device: each ReadI or WriteI takes its next step from
// Steps (past the end, nil), and a nil step moves up to 240 frames, so the
// caller's loop sees a ring that fills and drains in pieces.
type PCM struct {
	Channels int            // the one channel count the device takes (0: none)
	Params   *alsa.HWParams // as last accepted
	Prepared int            // PREPARE calls (open, and each xrun recovery)
	Steps    []error        // per transfer: nil moves frames
	Step     int
	Next     int16   // capture: the sample counter (frame k carries 2k, +2 per channel)
	Played   []int16 // playback: interleaved as the device got them, kept when non-nil
	Frames   int     // Delay's answer
	Closed   bool
	// Clock, when set, moves on 300 ms at every Poll, as time passes
	// while the device stays silent.
	Clock *clockwork.FakeClock
}

// HWParams accepts only Channels.
func (f *PCM) HWParams(p *alsa.HWParams) error {
	if ch := p.Interval(alsa.ParamChannels).Min; int(ch) != f.Channels {
		return syscall.EINVAL
	}
	cp := *p
	f.Params = &cp
	return nil
}

// Prepare counts.
func (f *PCM) Prepare() error { f.Prepared++; return nil }

func (f *PCM) next() error {
	var err error
	if f.Step < len(f.Steps) {
		err = f.Steps[f.Step]
	}
	f.Step++
	return err
}

// ReadI delivers up to 240 frames of the counter: in stereo the left is
// 2k and the right 2k+2, so a downmix yields 2k+1.
func (f *PCM) ReadI(buf []int16, frames int) (int, error) {
	if err := f.next(); err != nil {
		return 0, err
	}
	ch := int(f.Params.Interval(alsa.ParamChannels).Min)
	n := min(frames, 240)
	for i := 0; i < n; i++ {
		f.Next++
		for c := 0; c < ch; c++ {
			buf[i*ch+c] = f.Next*2 + int16(c)*2
		}
	}
	return n, nil
}

// WriteI takes up to 240 frames, kept in Played when that is non-nil.
func (f *PCM) WriteI(buf []int16, frames int) (int, error) {
	if err := f.next(); err != nil {
		return 0, err
	}
	n := min(frames, 240)
	if f.Played != nil {
		f.Played = append(f.Played, buf[:n*f.Channels]...)
	}
	return n, nil
}

// Delay is Frames.
func (f *PCM) Delay() (int, error) { return f.Frames, nil }

// Poll returns at once (after moving Clock, when set).
func (f *PCM) Poll(time.Duration) (bool, error) {
	if f.Clock != nil {
		f.Clock.Advance(300 * time.Millisecond)
		return false, nil
	}
	return true, nil
}

// Close marks the device closed.
func (f *PCM) Close() error { f.Closed = true; return nil }
