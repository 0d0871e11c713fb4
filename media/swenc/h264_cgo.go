//go:build cgo

package swenc

import (
	"fmt"
	"image"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// Available is true: openh264 and libopus are linked in.
const Available = true

// h264Impl drives mediadevices' openh264 encoder, which pulls its input
// from a video.Reader: ours hands out the frame that encode was given,
// wrapped in a reused image.YCbCr, so no picture is copied.
type h264Impl struct {
	rc   codec.ReadCloser
	ctl  codec.EncoderController
	img  image.YCbCr
	w, h int
}

func newH264Impl(cfg *Config) (*h264Impl, error) {
	p, err := openh264.NewParams()
	if err != nil {
		return nil, fmt.Errorf("swenc: openh264 params: %w", err)
	}
	p.BitRate = cfg.Bitrate
	p.IntraPeriod = uint(cfg.KeyframeInterval)
	p.RCMode = openh264.RCBitrateMode
	// openh264 holds the bitrate only with frame skipping on ("bitrate
	// can't be controlled ... without enabling skip frame"); a skipped
	// frame yields no unit, and H264.Encode keeps a pending keyframe
	// request for the next frame.
	p.EnableFrameSkip = true
	p.MultipleThreadIdc = cfg.Threads
	// One slice per picture, as bcm2835-codec produces; the RTP packetizer
	// fragments it (RFC 6184 FU-A).
	p.SliceMode = openh264.SMSingleSlice
	p.SliceNum = 1
	im := &h264Impl{w: cfg.Width, h: cfg.Height}
	im.img = image.YCbCr{
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		YStride:        cfg.Width,
		CStride:        cfg.Width / 2,
		Rect:           image.Rect(0, 0, cfg.Width, cfg.Height),
	}
	r := video.ReaderFunc(func() (image.Image, func(), error) { return &im.img, noop, nil })
	rc, err := p.BuildVideoEncoder(r, prop.Media{Video: prop.Video{
		Width: cfg.Width, Height: cfg.Height, FrameRate: float32(cfg.FrameRate)}})
	if err != nil {
		return nil, fmt.Errorf("swenc: openh264: %w", err)
	}
	im.rc = rc
	im.ctl = rc.Controller()
	return im, nil
}

func noop() {}

func (im *h264Impl) encode(i420 []byte) ([]byte, error) {
	ys, cs := im.w*im.h, im.w*im.h/4
	im.img.Y = i420[:ys:ys]
	im.img.Cb = i420[ys : ys+cs : ys+cs]
	im.img.Cr = i420[ys+cs : ys+2*cs : ys+2*cs]
	data, release, err := im.rc.Read()
	if release != nil {
		defer release()
	}
	im.img.Y, im.img.Cb, im.img.Cr = nil, nil, nil
	return data, err
}

func (im *h264Impl) forceKeyframe() {
	if kc, ok := im.ctl.(codec.KeyFrameController); ok {
		_ = kc.ForceKeyFrame()
	}
}

func (im *h264Impl) setBitrate(bps int) {
	if bc, ok := im.ctl.(codec.BitRateController); ok {
		_ = bc.SetBitRate(bps)
	}
}

func (im *h264Impl) close() error { return im.rc.Close() }
