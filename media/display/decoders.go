package display

import (
	"fmt"

	"tether/media"
	"tether/media/swdec"
)

// DefaultDecoder is Config.NewDecoder's default: the board's V4L2
// mem2mem H.264 decoder when probing finds one (hardware, no CPU per
// pixel), else openh264 (software, from the static library the encoder
// already links).
func DefaultDecoder() (Decoder, DecoderKind, string, error) {
	if d, node, err := newHardwareDecoder(); err == nil {
		return d, media.EncoderHardware, node, nil
	}
	d, err := SoftwareDecoder()
	if err != nil {
		return nil, media.EncoderNone, "", err
	}
	return d, media.EncoderSoftware, "", nil
}

// SoftwareDecoder returns openh264's decoder behind the Decoder interface.
func SoftwareDecoder() (Decoder, error) {
	d, err := swdec.NewH264(swdec.Config{})
	if err != nil {
		return nil, fmt.Errorf("display: software decoder: %w", err)
	}
	return softDecoder{d}, nil
}

type softDecoder struct{ d *swdec.H264 }

func (s softDecoder) Decode(au []byte) (Picture, bool, error) {
	p, ok, err := s.d.Decode(au)
	return Picture{Y: p.Y, U: p.U, V: p.V, YStride: p.YStride, CStride: p.CStride, Width: p.Width, Height: p.Height}, ok, err
}

func (s softDecoder) Close() error { return s.d.Close() }
