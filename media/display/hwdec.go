package display

import (
	"fmt"

	"tether/media/v4l2"
	"tether/media/v4l2m2m"
)

// newHardwareDecoder finds the board's stateful V4L2 mem2mem H.264
// decoder (bcm2835-codec's /dev/video10 on a Pi 4) and opens it.
func newHardwareDecoder() (Decoder, string, error) {
	info, err := v4l2m2m.FindDecoder(v4l2.PixFmtH264, "")
	if err != nil {
		return nil, "", err
	}
	d, err := HardwareDecoder(v4l2m2m.DecoderConfig{Open: v4l2m2m.OpenPath(info.Path)})
	if err != nil {
		return nil, "", err
	}
	return d, info.Path, nil
}

// HardwareDecoder opens a V4L2 mem2mem decoder behind the Decoder
// interface (cfg.CodedFormat: H.264, or FWHT for vicodec in the rig).
func HardwareDecoder(cfg v4l2m2m.DecoderConfig) (Decoder, error) {
	d, err := v4l2m2m.NewDecoder(cfg)
	if err != nil {
		return nil, fmt.Errorf("display: hardware decoder: %w", err)
	}
	return hwDecoder{d}, nil
}

type hwDecoder struct{ d *v4l2m2m.Decoder }

func (h hwDecoder) Decode(au []byte) (Picture, bool, error) {
	p, ok, err := h.d.Decode(au)
	if err != nil || !ok {
		return Picture{}, false, err
	}
	y, u, v, cs := p.Planes()
	return Picture{Y: y, U: u, V: v, YStride: p.Stride, CStride: cs, Width: p.Width, Height: p.Height}, true, nil
}

func (h hwDecoder) Close() error { return h.d.Close() }
