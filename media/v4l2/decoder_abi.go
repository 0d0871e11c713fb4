package v4l2

import "unsafe"

// The slice of videodev2.h a stateful decoder needs beyond the encoder's
// (Documentation/userspace-api/media/v4l/dev-decoder.rst). These are not
// Device methods, so the scripted fake and other Device implementations
// are untouched: a decoder asks for them with a type assertion
// (DecoderDevice) and the real device has them.

// DecoderDevice is a Device that also takes the decoder ioctls.
type DecoderDevice interface {
	Device
	DecoderCmd(c *DecoderCmd) error
	GetSelection(s *Selection) error
}

var (
	VIDIOC_G_SELECTION = iocRW | uint32(unsafe.Sizeof(Selection{}))<<16 | iocV | 94
	VIDIOC_DECODER_CMD = iocRW | uint32(unsafe.Sizeof(DecoderCmd{}))<<16 | iocV | 96
)

// Decoder commands (vidioc-decoder-cmd.rst).
const (
	DecCmdStart = 0
	DecCmdStop  = 1
)

// EventSrcChResolution is V4L2_EVENT_SRC_CH_RESOLUTION, the changes bit of
// a source change event (struct v4l2_event_src_change, first u32 of the
// event union).
const EventSrcChResolution = 1

// SelTgtCompose is V4L2_SEL_TGT_COMPOSE: on a decoder's CAPTURE queue the
// visible rectangle inside the frame buffer.
const SelTgtCompose = 0x0100

// DecoderCmd is struct v4l2_decoder_cmd; the union {stop.pts (u64),
// start {speed, format}, raw.data[16]} is 64 bytes, 8-aligned on every
// GOARCH (72 bytes in all, VIDIOC_DECODER_CMD 0xc0485660).
type DecoderCmd struct {
	Cmd   uint32
	Flags uint32
	Raw   [16]uint32
}

// Rect is struct v4l2_rect.
type Rect struct {
	Left, Top     int32
	Width, Height uint32
}

// Selection is struct v4l2_selection (64 bytes, VIDIOC_G_SELECTION
// 0xc040565e on amd64, arm64 and arm).
type Selection struct {
	Type     BufType
	Target   uint32
	Flags    uint32
	R        Rect
	Reserved [9]uint32
}
