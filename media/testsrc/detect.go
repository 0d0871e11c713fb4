package testsrc

import "math"

// ToneDB measures how much of pcm's energy sits at freq Hz (48 kHz
// samples): the Goertzel filter's power at freq relative to the block's
// whole power, in dB (0 for a pure tone at freq, very negative for none;
// -200 for silence). Tests use it to recognise the test tone after a codec,
// a jitter buffer or a sound card.
func ToneDB(pcm []int16, freq float64) float64 {
	var total float64
	for _, v := range pcm {
		total += float64(v) * float64(v)
	}
	if total == 0 {
		return -200
	}
	// |X(f)|^2 for a sine of amplitude A over N samples is (A*N/2)^2, and
	// its energy A^2*N/2: the ratio below is 1 for a pure tone.
	return 10 * math.Log10(2*TonePower(pcm, freq)/(float64(len(pcm))*total)+1e-20)
}

// TonePower is the Goertzel filter's |X(freq)|^2 over pcm (48 kHz).
func TonePower(pcm []int16, freq float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

// LevelDB is pcm's RMS level in dB relative to full scale (-200 for
// silence).
func LevelDB(pcm []int16) float64 {
	var e float64
	for _, v := range pcm {
		e += float64(v) * float64(v)
	}
	if e == 0 {
		return -200
	}
	return 10 * math.Log10(e/float64(len(pcm))/(math.MaxInt16*math.MaxInt16))
}
