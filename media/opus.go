package media

import "tether/media/swenc"

// newOpus is the default Config.NewAudioEncoder: libopus at 48 kHz mono
// with in-band FEC.
func newOpus(bitrate int) (AudioEncoder, error) {
	o, err := swenc.NewOpus(swenc.OpusConfig{Bitrate: bitrate})
	if err != nil {
		return nil, err
	}
	return o, nil
}
