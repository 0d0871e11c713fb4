package display

import "errors"

// newHardwareDecoder finds and opens a V4L2 mem2mem H.264 decoder.
func newHardwareDecoder() (Decoder, string, error) {
	return nil, "", errors.New("display: no hardware decoder yet")
}
