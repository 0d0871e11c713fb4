package testsrc

import (
	"math"
	"time"
)

// Tone is a test tone: a sine at Freq Hz, 48 kHz mono signed 16-bit PCM,
// sounding in the first quarter of every second of its sample clock (a beep
// a second, in step with the pattern's white square). Not safe for
// concurrent use.
type Tone struct {
	rate  int
	step  float64 // phase step per sample, radians
	phase float64
	amp   float64
	pos   uint64 // samples produced so far
	start time.Time
}

// SampleRate of the tone.
const SampleRate = 48000

// NewTone returns a tone at freq Hz (default 440) whose sample clock starts
// at start; amplitude is -12 dBFS.
func NewTone(freq float64, start time.Time) *Tone {
	if freq <= 0 {
		freq = 440
	}
	return &Tone{
		rate:  SampleRate,
		step:  2 * math.Pi * freq / SampleRate,
		amp:   0.25 * math.MaxInt16,
		start: start,
	}
}

// Read fills buf with the next len(buf) samples and returns the time of the
// first one. It does not allocate.
func (t *Tone) Read(buf []int16) time.Time {
	at := t.start.Add(time.Duration(t.pos) * time.Second / time.Duration(t.rate))
	ms0 := at.UnixMilli()
	for i := range buf {
		// Gate on the wall-clock millisecond of this sample.
		ms := ms0 + int64(i)*1000/int64(t.rate)
		if ms%1000 < 250 {
			buf[i] = int16(t.amp * math.Sin(t.phase))
		} else {
			buf[i] = 0
		}
		t.phase += t.step
		if t.phase > 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
	t.pos += uint64(len(buf))
	return at
}
