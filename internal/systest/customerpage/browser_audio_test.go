//go:build cgo

package customerpage_test

// Issue 15 §2 end to end: a Chromium customer's microphone (Chromium's
// fake capture device playing a WAV file with a known pattern) reaches
// the real appliance's speaker through the customer page, the hub, WebRTC,
// the Opus decoder and the jitter buffer, and is recognised there.

import (
	"bufio"
	"encoding/binary"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/appliance"
	"tether/internal/testenv"
	"tether/media"
	"tether/media/testsrc"
)

// The customer's pattern: in every 2 s of the file, four 150 ms tone
// bursts rising in pitch, 300 ms apart. A codec, a jitter buffer and
// Chromium's own audio processing keep a tone's pitch, and the order and
// spacing of four pitches do not happen by chance.
var (
	patternFreqs = []float64{600, 1000, 1400, 1800}
)

const (
	patternPeriod = 2 * time.Second
	patternStep   = 300 * time.Millisecond
	patternBurst  = 150 * time.Millisecond
)

// writePatternWAV writes the pattern as a 48 kHz mono 16-bit WAV file,
// the format Chromium's --use-file-for-fake-audio-capture reads (looped).
func writePatternWAV(t *testing.T, path string) {
	t.Helper()
	const rate = testsrc.SampleRate
	n := int(patternPeriod * rate / time.Second)
	pcm := make([]int16, n)
	burst, ramp := int(patternBurst*rate/time.Second), rate/200 // 5 ms ramps: no clicks
	for k, f := range patternFreqs {
		at := k * int(patternStep*rate/time.Second)
		for i := 0; i < burst; i++ {
			g := 1.0
			if i < ramp {
				g = float64(i) / float64(ramp)
			} else if burst-i < ramp {
				g = float64(burst-i) / float64(ramp)
			}
			pcm[at+i] = int16(g * 0.25 * math.MaxInt16 * math.Sin(2*math.Pi*f*float64(i)/rate))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	data := uint32(2 * n)
	le := binary.LittleEndian
	for _, v := range []any{[]byte("RIFF"), 36 + data, []byte("WAVEfmt "), uint32(16), uint16(1), uint16(1), uint32(rate),
		uint32(2 * rate), uint16(2), uint16(16), []byte("data"), data, pcm} {
		if err := binary.Write(w, le, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// findPattern looks for the pattern in pcm (48 kHz): 20 ms windows every
// 10 ms are labelled with the burst pitch that holds most of their energy;
// the pattern is there when the four pitches come in order, each
// patternStep after the last within ±40 ms. It returns where the first
// burst starts, or -1.
func findPattern(pcm []int16) int {
	const win, hop = 960, 480
	tol := int(40 * time.Millisecond * testsrc.SampleRate / time.Second)
	step := int(patternStep * testsrc.SampleRate / time.Second)
	label := func(off int) int {
		w := pcm[off : off+win]
		if testsrc.LevelDB(w) < -50 {
			return -1
		}
		for k, f := range patternFreqs {
			if testsrc.ToneDB(w, f) > -6 {
				return k
			}
		}
		return -1
	}
	var seen [4][]int // offsets of windows labelled with each pitch
	for off := 0; off+win <= len(pcm); off += hop {
		if k := label(off); k >= 0 {
			seen[k] = append(seen[k], off)
		}
	}
	for _, first := range seen[0] {
		at, ok := first, true
		for k := 1; k < len(patternFreqs) && ok; k++ {
			ok = false
			for _, o := range seen[k] {
				if d := o - at - step; d >= -tol && d <= tol {
					at, ok = o, true
					break
				}
			}
		}
		if ok {
			return first
		}
	}
	return -1
}

// TestFindPattern: the recogniser finds the pattern it is built for and
// nothing in silence, the sim board's beep or a pattern out of order.
func TestFindPattern(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wav")
	writePatternWAV(t, path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, (len(raw)-44)/2)
	if err := binary.Read(strings.NewReader(string(raw[44:])), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	played := append(make([]int16, 7000), pcm...)
	if got := findPattern(played); got < 7000-480 || got > 7000+480 {
		t.Fatalf("pattern at %d, want about 7000", got)
	}
	if got := findPattern(make([]int16, len(pcm))); got != -1 {
		t.Fatalf("pattern in silence at %d", got)
	}
	beep := make([]int16, 2*testsrc.SampleRate)
	testsrc.NewTone(1000, time.Unix(0, 0)).Read(beep)
	if got := findPattern(beep); got != -1 {
		t.Fatalf("pattern in a beep at %d", got)
	}
	// The bursts in reverse order are not the pattern.
	rev := make([]int16, len(pcm))
	step := int(patternStep * testsrc.SampleRate / time.Second)
	for k := range patternFreqs {
		copy(rev[(3-k)*step:(4-k)*step], pcm[k*step:(k+1)*step])
	}
	if got := findPattern(rev); got != -1 {
		t.Fatalf("pattern in reverse at %d", got)
	}
}

// TestBrowserCustomerAudioToSpeaker: Chromium's fake microphone plays the
// pattern; the customer joins on the customer page; the pattern comes out
// of the appliance's speaker (a sound card on the real clock, recorded) and
// is recognised. The latency the appliance adds (packet arrival to the
// speaker's write, tether_speaker_latency_seconds, plus the speaker's
// ring) is logged: a figure, not an assertion.
func TestBrowserCustomerAudioToSpeaker(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "customer.wav")
	writePatternWAV(t, wav)
	spk := &testsrc.Speaker{Keep: 10 * testsrc.SampleRate}
	e := newBEnvWith(t, bOpts{
		deps:  func(d *appliance.Deps) { d.OpenSpeaker = func() (media.AudioSink, error) { return spk.Open() } },
		flags: map[string]any{"use-file-for-fake-audio-capture": wav},
	})
	cust := e.open("Carol", "")
	cust.waitMedia(mediaWait)
	cust.waitFor("her microphone sent to the counter", bWait, func(s pageState) bool { return s.Stats.BytesSent > 0 })

	// Generous: Chromium's audio starts after the call connects, and a
	// loaded CI box may conceal a few frames; the pattern repeats every 2 s.
	var at int
	testenv.Eventually(t, 60*time.Second, "the customer's pattern on the speaker", func() bool {
		pcm, _ := spk.Played(4 * time.Second)
		at = findPattern(pcm)
		return at >= 0
	})
	e.logf("pattern recognised on the speaker (%d samples into the last 4 s)", at)

	// The figure: the player's smoothed latency, sampled over 2 s.
	var lat []float64
	for i := 0; i < 10; i++ {
		if v, ok := metric(t, e.app.a, "tether_speaker_latency_seconds"); ok && v > 0 {
			lat = append(lat, v*1000)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(lat) == 0 {
		t.Fatal("tether_speaker_latency_seconds never set during the call")
	}
	slices.Sort(lat)
	packets, _ := metric(t, e.app.a, "tether_speaker_packets_total")
	concealed, _ := metric(t, e.app.a, "tether_speaker_concealed_total")
	t.Logf("latency the appliance adds to the customer's voice: median %.1f ms (arrival to write) + ≤ %v (the speaker's ring); %v packets, %v concealed",
		lat[len(lat)/2], testsrc.DefaultRing, packets, concealed)
}

// metric reads one unlabelled sample from the appliance's /metrics.
func metric(t *testing.T, a *appliance.App, name string) (float64, bool) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
