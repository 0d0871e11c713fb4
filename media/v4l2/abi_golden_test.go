package v4l2

import (
	"runtime"
	"testing"
	"unsafe"
)

// abiFacts are what the kernel headers say, per GOARCH.
type abiFacts struct {
	sizes   map[string]uintptr
	offsets map[string]uintptr
	ioctls  map[string]uint32
	consts  map[string]uint32
}

// golden holds the values printed by testdata/abigen (gcc, aarch64-linux-gnu-gcc
// and arm-linux-gnueabihf-gcc against linux-libc-dev 6.1 headers, run under
// qemu-user); regenerate with testdata/abigen/gen.sh. "arm" is the classic
// 32-bit time_t ABI (see Timeval).
var golden = map[string]abiFacts{
	"amd64": {
		sizes: map[string]uintptr{
			"sizeof(v4l2_capability)":         104,
			"sizeof(v4l2_fmtdesc)":            64,
			"sizeof(v4l2_pix_format)":         48,
			"sizeof(v4l2_plane_pix_format)":   20,
			"sizeof(v4l2_pix_format_mplane)":  192,
			"sizeof(v4l2_format)":             208,
			"sizeof(v4l2_requestbuffers)":     20,
			"sizeof(v4l2_timecode)":           16,
			"sizeof(v4l2_plane)":              64,
			"sizeof(v4l2_buffer)":             88,
			"sizeof(v4l2_exportbuffer)":       64,
			"sizeof(v4l2_fract)":              8,
			"sizeof(v4l2_captureparm)":        40,
			"sizeof(v4l2_outputparm)":         40,
			"sizeof(v4l2_streamparm)":         204,
			"sizeof(v4l2_control)":            8,
			"sizeof(v4l2_queryctrl)":          68,
			"sizeof(v4l2_ext_control)":        20,
			"sizeof(v4l2_ext_controls)":       32,
			"sizeof(v4l2_encoder_cmd)":        40,
			"sizeof(v4l2_event_subscription)": 32,
			"sizeof(v4l2_event)":              136,
			"sizeof(v4l2_frmsizeenum)":        44,
		},
		offsets: map[string]uintptr{
			"v4l2_capability.capabilities":      84,
			"v4l2_capability.device_caps":       88,
			"v4l2_fmtdesc.description":          12,
			"v4l2_fmtdesc.pixelformat":          44,
			"v4l2_pix_format_mplane.plane_fmt":  20,
			"v4l2_pix_format_mplane.num_planes": 180,
			"v4l2_format.fmt":                   8,
			"v4l2_requestbuffers.capabilities":  12,
			"v4l2_requestbuffers.flags":         16,
			"v4l2_plane.m":                      8,
			"v4l2_plane.data_offset":            16,
			"v4l2_buffer.field":                 16,
			"v4l2_buffer.timestamp":             24,
			"v4l2_buffer.timecode":              40,
			"v4l2_buffer.sequence":              56,
			"v4l2_buffer.memory":                60,
			"v4l2_buffer.m":                     64,
			"v4l2_buffer.length":                72,
			"v4l2_buffer.reserved2":             76,
			"v4l2_buffer.request_fd":            80,
			"v4l2_exportbuffer.fd":              16,
			"v4l2_streamparm.parm":              4,
			"v4l2_ext_control.value":            12,
			"v4l2_ext_controls.controls":        24,
			"v4l2_encoder_cmd.raw":              8,
			"v4l2_event.u":                      8,
			"v4l2_event.pending":                72,
			"v4l2_event.timestamp":              80,
			"v4l2_event.id":                     96,
			"v4l2_frmsizeenum.discrete":         12,
		},
		ioctls: map[string]uint32{
			"VIDIOC_QUERYCAP":          0x80685600,
			"VIDIOC_ENUM_FMT":          0xc0405602,
			"VIDIOC_G_FMT":             0xc0d05604,
			"VIDIOC_S_FMT":             0xc0d05605,
			"VIDIOC_TRY_FMT":           0xc0d05640,
			"VIDIOC_REQBUFS":           0xc0145608,
			"VIDIOC_QUERYBUF":          0xc0585609,
			"VIDIOC_QBUF":              0xc058560f,
			"VIDIOC_DQBUF":             0xc0585611,
			"VIDIOC_EXPBUF":            0xc0405610,
			"VIDIOC_STREAMON":          0x40045612,
			"VIDIOC_STREAMOFF":         0x40045613,
			"VIDIOC_G_PARM":            0xc0cc5615,
			"VIDIOC_S_PARM":            0xc0cc5616,
			"VIDIOC_G_CTRL":            0xc008561b,
			"VIDIOC_S_CTRL":            0xc008561c,
			"VIDIOC_QUERYCTRL":         0xc0445624,
			"VIDIOC_G_EXT_CTRLS":       0xc0205647,
			"VIDIOC_S_EXT_CTRLS":       0xc0205648,
			"VIDIOC_TRY_EXT_CTRLS":     0xc0205649,
			"VIDIOC_ENUM_FRAMESIZES":   0xc02c564a,
			"VIDIOC_ENCODER_CMD":       0xc028564d,
			"VIDIOC_TRY_ENCODER_CMD":   0xc028564e,
			"VIDIOC_DQEVENT":           0x80885659,
			"VIDIOC_SUBSCRIBE_EVENT":   0x4020565a,
			"VIDIOC_UNSUBSCRIBE_EVENT": 0x4020565b,
		},
		consts: map[string]uint32{
			"V4L2_CAP_VIDEO_M2M_MPLANE":                         0x00004000,
			"V4L2_CAP_VIDEO_M2M":                                0x00008000,
			"V4L2_CAP_STREAMING":                                0x04000000,
			"V4L2_CAP_DEVICE_CAPS":                              0x80000000,
			"V4L2_PIX_FMT_YUYV":                                 0x56595559,
			"V4L2_PIX_FMT_NV12":                                 0x3231564e,
			"V4L2_PIX_FMT_YUV420":                               0x32315559,
			"V4L2_PIX_FMT_MJPEG":                                0x47504a4d,
			"V4L2_PIX_FMT_H264":                                 0x34363248,
			"V4L2_PIX_FMT_FWHT":                                 0x54485746,
			"V4L2_CID_MPEG_VIDEO_BITRATE":                       0x009909cf,
			"V4L2_CID_MPEG_VIDEO_BITRATE_MODE":                  0x009909ce,
			"V4L2_CID_MPEG_VIDEO_H264_I_PERIOD":                 0x00990a66,
			"V4L2_CID_MPEG_VIDEO_H264_PROFILE":                  0x00990a6b,
			"V4L2_CID_MPEG_VIDEO_H264_LEVEL":                    0x00990a67,
			"V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER":             0x009909e2,
			"V4L2_CID_MPEG_VIDEO_H264_MIN_QP":                   0x00990a61,
			"V4L2_CID_MPEG_VIDEO_H264_MAX_QP":                   0x00990a62,
			"V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME":               0x009909e5,
			"V4L2_CID_MPEG_VIDEO_GOP_SIZE":                      0x009909cb,
			"V4L2_CID_MPEG_VIDEO_PREPEND_SPSPPS_TO_IDR":         0x00990b84,
			"V4L2_BUF_FLAG_KEYFRAME":                            0x00000008,
			"V4L2_BUF_FLAG_ERROR":                               0x00000040,
			"V4L2_BUF_FLAG_LAST":                                0x00100000,
			"V4L2_BUF_FLAG_TIMESTAMP_COPY":                      0x00004000,
			"V4L2_EVENT_EOS":                                    0x00000002,
			"V4L2_EVENT_SOURCE_CHANGE":                          0x00000005,
			"V4L2_ENC_CMD_STOP":                                 0x00000001,
			"V4L2_ENC_CMD_START":                                0x00000000,
			"V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE": 0x00000001,
			"V4L2_MPEG_VIDEO_H264_LEVEL_4_0":                    0x0000000b,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_CBR":                  0x00000001,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_VBR":                  0x00000000,
		},
	},
	"arm64": {
		sizes: map[string]uintptr{
			"sizeof(v4l2_capability)":         104,
			"sizeof(v4l2_fmtdesc)":            64,
			"sizeof(v4l2_pix_format)":         48,
			"sizeof(v4l2_plane_pix_format)":   20,
			"sizeof(v4l2_pix_format_mplane)":  192,
			"sizeof(v4l2_format)":             208,
			"sizeof(v4l2_requestbuffers)":     20,
			"sizeof(v4l2_timecode)":           16,
			"sizeof(v4l2_plane)":              64,
			"sizeof(v4l2_buffer)":             88,
			"sizeof(v4l2_exportbuffer)":       64,
			"sizeof(v4l2_fract)":              8,
			"sizeof(v4l2_captureparm)":        40,
			"sizeof(v4l2_outputparm)":         40,
			"sizeof(v4l2_streamparm)":         204,
			"sizeof(v4l2_control)":            8,
			"sizeof(v4l2_queryctrl)":          68,
			"sizeof(v4l2_ext_control)":        20,
			"sizeof(v4l2_ext_controls)":       32,
			"sizeof(v4l2_encoder_cmd)":        40,
			"sizeof(v4l2_event_subscription)": 32,
			"sizeof(v4l2_event)":              136,
			"sizeof(v4l2_frmsizeenum)":        44,
		},
		offsets: map[string]uintptr{
			"v4l2_capability.capabilities":      84,
			"v4l2_capability.device_caps":       88,
			"v4l2_fmtdesc.description":          12,
			"v4l2_fmtdesc.pixelformat":          44,
			"v4l2_pix_format_mplane.plane_fmt":  20,
			"v4l2_pix_format_mplane.num_planes": 180,
			"v4l2_format.fmt":                   8,
			"v4l2_requestbuffers.capabilities":  12,
			"v4l2_requestbuffers.flags":         16,
			"v4l2_plane.m":                      8,
			"v4l2_plane.data_offset":            16,
			"v4l2_buffer.field":                 16,
			"v4l2_buffer.timestamp":             24,
			"v4l2_buffer.timecode":              40,
			"v4l2_buffer.sequence":              56,
			"v4l2_buffer.memory":                60,
			"v4l2_buffer.m":                     64,
			"v4l2_buffer.length":                72,
			"v4l2_buffer.reserved2":             76,
			"v4l2_buffer.request_fd":            80,
			"v4l2_exportbuffer.fd":              16,
			"v4l2_streamparm.parm":              4,
			"v4l2_ext_control.value":            12,
			"v4l2_ext_controls.controls":        24,
			"v4l2_encoder_cmd.raw":              8,
			"v4l2_event.u":                      8,
			"v4l2_event.pending":                72,
			"v4l2_event.timestamp":              80,
			"v4l2_event.id":                     96,
			"v4l2_frmsizeenum.discrete":         12,
		},
		ioctls: map[string]uint32{
			"VIDIOC_QUERYCAP":          0x80685600,
			"VIDIOC_ENUM_FMT":          0xc0405602,
			"VIDIOC_G_FMT":             0xc0d05604,
			"VIDIOC_S_FMT":             0xc0d05605,
			"VIDIOC_TRY_FMT":           0xc0d05640,
			"VIDIOC_REQBUFS":           0xc0145608,
			"VIDIOC_QUERYBUF":          0xc0585609,
			"VIDIOC_QBUF":              0xc058560f,
			"VIDIOC_DQBUF":             0xc0585611,
			"VIDIOC_EXPBUF":            0xc0405610,
			"VIDIOC_STREAMON":          0x40045612,
			"VIDIOC_STREAMOFF":         0x40045613,
			"VIDIOC_G_PARM":            0xc0cc5615,
			"VIDIOC_S_PARM":            0xc0cc5616,
			"VIDIOC_G_CTRL":            0xc008561b,
			"VIDIOC_S_CTRL":            0xc008561c,
			"VIDIOC_QUERYCTRL":         0xc0445624,
			"VIDIOC_G_EXT_CTRLS":       0xc0205647,
			"VIDIOC_S_EXT_CTRLS":       0xc0205648,
			"VIDIOC_TRY_EXT_CTRLS":     0xc0205649,
			"VIDIOC_ENUM_FRAMESIZES":   0xc02c564a,
			"VIDIOC_ENCODER_CMD":       0xc028564d,
			"VIDIOC_TRY_ENCODER_CMD":   0xc028564e,
			"VIDIOC_DQEVENT":           0x80885659,
			"VIDIOC_SUBSCRIBE_EVENT":   0x4020565a,
			"VIDIOC_UNSUBSCRIBE_EVENT": 0x4020565b,
		},
		consts: map[string]uint32{
			"V4L2_CAP_VIDEO_M2M_MPLANE":                         0x00004000,
			"V4L2_CAP_VIDEO_M2M":                                0x00008000,
			"V4L2_CAP_STREAMING":                                0x04000000,
			"V4L2_CAP_DEVICE_CAPS":                              0x80000000,
			"V4L2_PIX_FMT_YUYV":                                 0x56595559,
			"V4L2_PIX_FMT_NV12":                                 0x3231564e,
			"V4L2_PIX_FMT_YUV420":                               0x32315559,
			"V4L2_PIX_FMT_MJPEG":                                0x47504a4d,
			"V4L2_PIX_FMT_H264":                                 0x34363248,
			"V4L2_PIX_FMT_FWHT":                                 0x54485746,
			"V4L2_CID_MPEG_VIDEO_BITRATE":                       0x009909cf,
			"V4L2_CID_MPEG_VIDEO_BITRATE_MODE":                  0x009909ce,
			"V4L2_CID_MPEG_VIDEO_H264_I_PERIOD":                 0x00990a66,
			"V4L2_CID_MPEG_VIDEO_H264_PROFILE":                  0x00990a6b,
			"V4L2_CID_MPEG_VIDEO_H264_LEVEL":                    0x00990a67,
			"V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER":             0x009909e2,
			"V4L2_CID_MPEG_VIDEO_H264_MIN_QP":                   0x00990a61,
			"V4L2_CID_MPEG_VIDEO_H264_MAX_QP":                   0x00990a62,
			"V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME":               0x009909e5,
			"V4L2_CID_MPEG_VIDEO_GOP_SIZE":                      0x009909cb,
			"V4L2_CID_MPEG_VIDEO_PREPEND_SPSPPS_TO_IDR":         0x00990b84,
			"V4L2_BUF_FLAG_KEYFRAME":                            0x00000008,
			"V4L2_BUF_FLAG_ERROR":                               0x00000040,
			"V4L2_BUF_FLAG_LAST":                                0x00100000,
			"V4L2_BUF_FLAG_TIMESTAMP_COPY":                      0x00004000,
			"V4L2_EVENT_EOS":                                    0x00000002,
			"V4L2_EVENT_SOURCE_CHANGE":                          0x00000005,
			"V4L2_ENC_CMD_STOP":                                 0x00000001,
			"V4L2_ENC_CMD_START":                                0x00000000,
			"V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE": 0x00000001,
			"V4L2_MPEG_VIDEO_H264_LEVEL_4_0":                    0x0000000b,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_CBR":                  0x00000001,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_VBR":                  0x00000000,
		},
	},
	"arm": {
		sizes: map[string]uintptr{
			"sizeof(v4l2_capability)":         104,
			"sizeof(v4l2_fmtdesc)":            64,
			"sizeof(v4l2_pix_format)":         48,
			"sizeof(v4l2_plane_pix_format)":   20,
			"sizeof(v4l2_pix_format_mplane)":  192,
			"sizeof(v4l2_format)":             204,
			"sizeof(v4l2_requestbuffers)":     20,
			"sizeof(v4l2_timecode)":           16,
			"sizeof(v4l2_plane)":              60,
			"sizeof(v4l2_buffer)":             68,
			"sizeof(v4l2_exportbuffer)":       64,
			"sizeof(v4l2_fract)":              8,
			"sizeof(v4l2_captureparm)":        40,
			"sizeof(v4l2_outputparm)":         40,
			"sizeof(v4l2_streamparm)":         204,
			"sizeof(v4l2_control)":            8,
			"sizeof(v4l2_queryctrl)":          68,
			"sizeof(v4l2_ext_control)":        20,
			"sizeof(v4l2_ext_controls)":       24,
			"sizeof(v4l2_encoder_cmd)":        40,
			"sizeof(v4l2_event_subscription)": 32,
			"sizeof(v4l2_event)":              128,
			"sizeof(v4l2_frmsizeenum)":        44,
		},
		offsets: map[string]uintptr{
			"v4l2_capability.capabilities":      84,
			"v4l2_capability.device_caps":       88,
			"v4l2_fmtdesc.description":          12,
			"v4l2_fmtdesc.pixelformat":          44,
			"v4l2_pix_format_mplane.plane_fmt":  20,
			"v4l2_pix_format_mplane.num_planes": 180,
			"v4l2_format.fmt":                   4,
			"v4l2_requestbuffers.capabilities":  12,
			"v4l2_requestbuffers.flags":         16,
			"v4l2_plane.m":                      8,
			"v4l2_plane.data_offset":            12,
			"v4l2_buffer.field":                 16,
			"v4l2_buffer.timestamp":             20,
			"v4l2_buffer.timecode":              28,
			"v4l2_buffer.sequence":              44,
			"v4l2_buffer.memory":                48,
			"v4l2_buffer.m":                     52,
			"v4l2_buffer.length":                56,
			"v4l2_buffer.reserved2":             60,
			"v4l2_buffer.request_fd":            64,
			"v4l2_exportbuffer.fd":              16,
			"v4l2_streamparm.parm":              4,
			"v4l2_ext_control.value":            12,
			"v4l2_ext_controls.controls":        20,
			"v4l2_encoder_cmd.raw":              8,
			"v4l2_event.u":                      8,
			"v4l2_event.pending":                72,
			"v4l2_event.timestamp":              80,
			"v4l2_event.id":                     88,
			"v4l2_frmsizeenum.discrete":         12,
		},
		ioctls: map[string]uint32{
			"VIDIOC_QUERYCAP":          0x80685600,
			"VIDIOC_ENUM_FMT":          0xc0405602,
			"VIDIOC_G_FMT":             0xc0cc5604,
			"VIDIOC_S_FMT":             0xc0cc5605,
			"VIDIOC_TRY_FMT":           0xc0cc5640,
			"VIDIOC_REQBUFS":           0xc0145608,
			"VIDIOC_QUERYBUF":          0xc0445609,
			"VIDIOC_QBUF":              0xc044560f,
			"VIDIOC_DQBUF":             0xc0445611,
			"VIDIOC_EXPBUF":            0xc0405610,
			"VIDIOC_STREAMON":          0x40045612,
			"VIDIOC_STREAMOFF":         0x40045613,
			"VIDIOC_G_PARM":            0xc0cc5615,
			"VIDIOC_S_PARM":            0xc0cc5616,
			"VIDIOC_G_CTRL":            0xc008561b,
			"VIDIOC_S_CTRL":            0xc008561c,
			"VIDIOC_QUERYCTRL":         0xc0445624,
			"VIDIOC_G_EXT_CTRLS":       0xc0185647,
			"VIDIOC_S_EXT_CTRLS":       0xc0185648,
			"VIDIOC_TRY_EXT_CTRLS":     0xc0185649,
			"VIDIOC_ENUM_FRAMESIZES":   0xc02c564a,
			"VIDIOC_ENCODER_CMD":       0xc028564d,
			"VIDIOC_TRY_ENCODER_CMD":   0xc028564e,
			"VIDIOC_DQEVENT":           0x80805659,
			"VIDIOC_SUBSCRIBE_EVENT":   0x4020565a,
			"VIDIOC_UNSUBSCRIBE_EVENT": 0x4020565b,
		},
		consts: map[string]uint32{
			"V4L2_CAP_VIDEO_M2M_MPLANE":                         0x00004000,
			"V4L2_CAP_VIDEO_M2M":                                0x00008000,
			"V4L2_CAP_STREAMING":                                0x04000000,
			"V4L2_CAP_DEVICE_CAPS":                              0x80000000,
			"V4L2_PIX_FMT_YUYV":                                 0x56595559,
			"V4L2_PIX_FMT_NV12":                                 0x3231564e,
			"V4L2_PIX_FMT_YUV420":                               0x32315559,
			"V4L2_PIX_FMT_MJPEG":                                0x47504a4d,
			"V4L2_PIX_FMT_H264":                                 0x34363248,
			"V4L2_PIX_FMT_FWHT":                                 0x54485746,
			"V4L2_CID_MPEG_VIDEO_BITRATE":                       0x009909cf,
			"V4L2_CID_MPEG_VIDEO_BITRATE_MODE":                  0x009909ce,
			"V4L2_CID_MPEG_VIDEO_H264_I_PERIOD":                 0x00990a66,
			"V4L2_CID_MPEG_VIDEO_H264_PROFILE":                  0x00990a6b,
			"V4L2_CID_MPEG_VIDEO_H264_LEVEL":                    0x00990a67,
			"V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER":             0x009909e2,
			"V4L2_CID_MPEG_VIDEO_H264_MIN_QP":                   0x00990a61,
			"V4L2_CID_MPEG_VIDEO_H264_MAX_QP":                   0x00990a62,
			"V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME":               0x009909e5,
			"V4L2_CID_MPEG_VIDEO_GOP_SIZE":                      0x009909cb,
			"V4L2_CID_MPEG_VIDEO_PREPEND_SPSPPS_TO_IDR":         0x00990b84,
			"V4L2_BUF_FLAG_KEYFRAME":                            0x00000008,
			"V4L2_BUF_FLAG_ERROR":                               0x00000040,
			"V4L2_BUF_FLAG_LAST":                                0x00100000,
			"V4L2_BUF_FLAG_TIMESTAMP_COPY":                      0x00004000,
			"V4L2_EVENT_EOS":                                    0x00000002,
			"V4L2_EVENT_SOURCE_CHANGE":                          0x00000005,
			"V4L2_ENC_CMD_STOP":                                 0x00000001,
			"V4L2_ENC_CMD_START":                                0x00000000,
			"V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE": 0x00000001,
			"V4L2_MPEG_VIDEO_H264_LEVEL_4_0":                    0x0000000b,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_CBR":                  0x00000001,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_VBR":                  0x00000000,
		},
	},
}

func goFacts() abiFacts {
	var (
		f  Format
		b  Buffer
		p  Plane
		ev Event
	)
	return abiFacts{
		sizes: map[string]uintptr{
			"sizeof(v4l2_capability)":         unsafe.Sizeof(Capability{}),
			"sizeof(v4l2_fmtdesc)":            unsafe.Sizeof(FmtDesc{}),
			"sizeof(v4l2_pix_format)":         unsafe.Sizeof(PixFormat{}),
			"sizeof(v4l2_plane_pix_format)":   unsafe.Sizeof(PlanePixFormat{}),
			"sizeof(v4l2_pix_format_mplane)":  unsafe.Sizeof(PixFormatMPlane{}),
			"sizeof(v4l2_format)":             unsafe.Sizeof(Format{}),
			"sizeof(v4l2_requestbuffers)":     unsafe.Sizeof(RequestBuffers{}),
			"sizeof(v4l2_timecode)":           unsafe.Sizeof(Timecode{}),
			"sizeof(v4l2_plane)":              unsafe.Sizeof(Plane{}),
			"sizeof(v4l2_buffer)":             unsafe.Sizeof(Buffer{}),
			"sizeof(v4l2_exportbuffer)":       unsafe.Sizeof(ExportBuffer{}),
			"sizeof(v4l2_fract)":              unsafe.Sizeof(Fract{}),
			"sizeof(v4l2_captureparm)":        unsafe.Sizeof(OutputParm{}),
			"sizeof(v4l2_outputparm)":         unsafe.Sizeof(OutputParm{}),
			"sizeof(v4l2_streamparm)":         unsafe.Sizeof(StreamParm{}),
			"sizeof(v4l2_control)":            unsafe.Sizeof(Control{}),
			"sizeof(v4l2_queryctrl)":          unsafe.Sizeof(QueryCtrl{}),
			"sizeof(v4l2_ext_control)":        unsafe.Sizeof(ExtControl{}),
			"sizeof(v4l2_ext_controls)":       unsafe.Sizeof(ExtControls{}),
			"sizeof(v4l2_encoder_cmd)":        unsafe.Sizeof(EncoderCmd{}),
			"sizeof(v4l2_event_subscription)": unsafe.Sizeof(EventSubscription{}),
			"sizeof(v4l2_event)":              unsafe.Sizeof(Event{}),
			"sizeof(v4l2_frmsizeenum)":        unsafe.Sizeof(FrmSizeEnum{}),
		},
		offsets: map[string]uintptr{
			"v4l2_capability.capabilities":      unsafe.Offsetof(Capability{}.Capabilities),
			"v4l2_capability.device_caps":       unsafe.Offsetof(Capability{}.DeviceCaps),
			"v4l2_fmtdesc.description":          unsafe.Offsetof(FmtDesc{}.Description),
			"v4l2_fmtdesc.pixelformat":          unsafe.Offsetof(FmtDesc{}.PixelFormat),
			"v4l2_pix_format_mplane.plane_fmt":  unsafe.Offsetof(PixFormatMPlane{}.PlaneFmt),
			"v4l2_pix_format_mplane.num_planes": unsafe.Offsetof(PixFormatMPlane{}.NumPlanes),
			"v4l2_format.fmt":                   uintptr(unsafe.Pointer(f.Pix())) - uintptr(unsafe.Pointer(&f)),
			"v4l2_requestbuffers.capabilities":  unsafe.Offsetof(RequestBuffers{}.Capabilities),
			"v4l2_requestbuffers.flags":         unsafe.Offsetof(RequestBuffers{}.Flags),
			"v4l2_plane.m":                      unsafe.Offsetof(p.M),
			"v4l2_plane.data_offset":            unsafe.Offsetof(p.DataOffset),
			"v4l2_buffer.field":                 unsafe.Offsetof(b.Field),
			"v4l2_buffer.timestamp":             unsafe.Offsetof(b.Timestamp),
			"v4l2_buffer.timecode":              unsafe.Offsetof(b.Timecode),
			"v4l2_buffer.sequence":              unsafe.Offsetof(b.Sequence),
			"v4l2_buffer.memory":                unsafe.Offsetof(b.Memory),
			"v4l2_buffer.m":                     unsafe.Offsetof(b.M),
			"v4l2_buffer.length":                unsafe.Offsetof(b.Length),
			"v4l2_buffer.reserved2":             unsafe.Offsetof(b.Reserved2),
			"v4l2_buffer.request_fd":            unsafe.Offsetof(b.RequestFD),
			"v4l2_exportbuffer.fd":              unsafe.Offsetof(ExportBuffer{}.FD),
			"v4l2_streamparm.parm":              unsafe.Offsetof(StreamParm{}.raw),
			"v4l2_ext_control.value":            unsafe.Offsetof(ExtControl{}.value),
			"v4l2_ext_controls.controls":        unsafe.Offsetof(ExtControls{}.Controls),
			"v4l2_encoder_cmd.raw":              unsafe.Offsetof(EncoderCmd{}.Raw),
			"v4l2_event.u":                      unsafe.Offsetof(ev.U),
			"v4l2_event.pending":                unsafe.Offsetof(ev.Pending),
			"v4l2_event.timestamp":              unsafe.Offsetof(ev.Timestamp),
			"v4l2_event.id":                     unsafe.Offsetof(ev.ID),
			"v4l2_frmsizeenum.discrete":         unsafe.Offsetof(FrmSizeEnum{}.U),
		},
		ioctls: map[string]uint32{
			"VIDIOC_QUERYCAP":          VIDIOC_QUERYCAP,
			"VIDIOC_ENUM_FMT":          VIDIOC_ENUM_FMT,
			"VIDIOC_G_FMT":             VIDIOC_G_FMT,
			"VIDIOC_S_FMT":             VIDIOC_S_FMT,
			"VIDIOC_TRY_FMT":           VIDIOC_TRY_FMT,
			"VIDIOC_REQBUFS":           VIDIOC_REQBUFS,
			"VIDIOC_QUERYBUF":          VIDIOC_QUERYBUF,
			"VIDIOC_QBUF":              VIDIOC_QBUF,
			"VIDIOC_DQBUF":             VIDIOC_DQBUF,
			"VIDIOC_EXPBUF":            VIDIOC_EXPBUF,
			"VIDIOC_STREAMON":          VIDIOC_STREAMON,
			"VIDIOC_STREAMOFF":         VIDIOC_STREAMOFF,
			"VIDIOC_G_PARM":            VIDIOC_G_PARM,
			"VIDIOC_S_PARM":            VIDIOC_S_PARM,
			"VIDIOC_G_CTRL":            VIDIOC_G_CTRL,
			"VIDIOC_S_CTRL":            VIDIOC_S_CTRL,
			"VIDIOC_QUERYCTRL":         VIDIOC_QUERYCTRL,
			"VIDIOC_G_EXT_CTRLS":       VIDIOC_G_EXT_CTRLS,
			"VIDIOC_S_EXT_CTRLS":       VIDIOC_S_EXT_CTRLS,
			"VIDIOC_TRY_EXT_CTRLS":     VIDIOC_TRY_EXT_CTRLS,
			"VIDIOC_ENUM_FRAMESIZES":   VIDIOC_ENUM_FRAMESIZES,
			"VIDIOC_ENCODER_CMD":       VIDIOC_ENCODER_CMD,
			"VIDIOC_TRY_ENCODER_CMD":   VIDIOC_TRY_ENCODER_CMD,
			"VIDIOC_DQEVENT":           VIDIOC_DQEVENT,
			"VIDIOC_SUBSCRIBE_EVENT":   VIDIOC_SUBSCRIBE_EVENT,
			"VIDIOC_UNSUBSCRIBE_EVENT": VIDIOC_UNSUBSCRIBE_EVENT,
		},
		consts: map[string]uint32{
			"V4L2_CAP_VIDEO_M2M_MPLANE":                         CapVideoM2MMPlane,
			"V4L2_CAP_VIDEO_M2M":                                CapVideoM2M,
			"V4L2_CAP_STREAMING":                                CapStreaming,
			"V4L2_CAP_DEVICE_CAPS":                              CapDeviceCaps,
			"V4L2_PIX_FMT_YUYV":                                 PixFmtYUYV,
			"V4L2_PIX_FMT_NV12":                                 PixFmtNV12,
			"V4L2_PIX_FMT_YUV420":                               PixFmtYUV420,
			"V4L2_PIX_FMT_MJPEG":                                PixFmtMJPEG,
			"V4L2_PIX_FMT_H264":                                 PixFmtH264,
			"V4L2_PIX_FMT_FWHT":                                 PixFmtFWHT,
			"V4L2_CID_MPEG_VIDEO_BITRATE":                       CIDMPEGVideoBitrate,
			"V4L2_CID_MPEG_VIDEO_BITRATE_MODE":                  CIDMPEGVideoBitrateMode,
			"V4L2_CID_MPEG_VIDEO_H264_I_PERIOD":                 CIDMPEGVideoH264IPeriod,
			"V4L2_CID_MPEG_VIDEO_H264_PROFILE":                  CIDMPEGVideoH264Profile,
			"V4L2_CID_MPEG_VIDEO_H264_LEVEL":                    CIDMPEGVideoH264Level,
			"V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER":             CIDMPEGVideoRepeatSeqHeader,
			"V4L2_CID_MPEG_VIDEO_H264_MIN_QP":                   CIDMPEGVideoH264MinQP,
			"V4L2_CID_MPEG_VIDEO_H264_MAX_QP":                   CIDMPEGVideoH264MaxQP,
			"V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME":               CIDMPEGVideoForceKeyFrame,
			"V4L2_CID_MPEG_VIDEO_GOP_SIZE":                      CIDMPEGVideoGOPSize,
			"V4L2_CID_MPEG_VIDEO_PREPEND_SPSPPS_TO_IDR":         CIDMPEGVideoPrependSPSPPSToIDR,
			"V4L2_BUF_FLAG_KEYFRAME":                            BufFlagKeyframe,
			"V4L2_BUF_FLAG_ERROR":                               BufFlagError,
			"V4L2_BUF_FLAG_LAST":                                BufFlagLast,
			"V4L2_BUF_FLAG_TIMESTAMP_COPY":                      BufFlagTimestampCopy,
			"V4L2_EVENT_EOS":                                    EventEOS,
			"V4L2_EVENT_SOURCE_CHANGE":                          EventSourceChange,
			"V4L2_ENC_CMD_STOP":                                 EncCmdStop,
			"V4L2_ENC_CMD_START":                                EncCmdStart,
			"V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE": H264ProfileConstrainedBaseline,
			"V4L2_MPEG_VIDEO_H264_LEVEL_4_0":                    H264Level4_0,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_CBR":                  BitrateModeCBR,
			"V4L2_MPEG_VIDEO_BITRATE_MODE_VBR":                  BitrateModeVBR,
		},
	}
}

// TestABIGolden compares the Go mirrors with the C layout of the running
// GOARCH; CI runs it natively and under qemu-user for arm64 and arm.
func TestABIGolden(t *testing.T) {
	want, ok := golden[runtime.GOARCH]
	if !ok {
		t.Skipf("no golden ABI table for GOARCH=%s (we ship amd64, arm64, arm)", runtime.GOARCH)
	}
	got := goFacts()
	check := func(t *testing.T, kind string, wantN, gotN int, cmp func() []string) {
		t.Helper()
		if wantN != gotN {
			t.Errorf("%s: golden has %d entries, Go table %d", kind, wantN, gotN)
		}
		for _, e := range cmp() {
			t.Error(e)
		}
	}
	t.Run("sizes", func(t *testing.T) {
		check(t, "sizes", len(want.sizes), len(got.sizes), func() (errs []string) {
			for k, w := range want.sizes {
				if g, ok := got.sizes[k]; !ok || g != w {
					errs = append(errs, k+": got "+itoa(uint64(g))+" want "+itoa(uint64(w)))
				}
			}
			return errs
		})
	})
	t.Run("offsets", func(t *testing.T) {
		check(t, "offsets", len(want.offsets), len(got.offsets), func() (errs []string) {
			for k, w := range want.offsets {
				if g, ok := got.offsets[k]; !ok || g != w {
					errs = append(errs, k+": got "+itoa(uint64(g))+" want "+itoa(uint64(w)))
				}
			}
			return errs
		})
	})
	t.Run("ioctls", func(t *testing.T) {
		check(t, "ioctls", len(want.ioctls), len(got.ioctls), func() (errs []string) {
			for k, w := range want.ioctls {
				if g, ok := got.ioctls[k]; !ok || g != w {
					errs = append(errs, k+": got "+hex(g)+" want "+hex(w))
				}
			}
			return errs
		})
	})
	t.Run("consts", func(t *testing.T) {
		check(t, "consts", len(want.consts), len(got.consts), func() (errs []string) {
			for k, w := range want.consts {
				if g, ok := got.consts[k]; !ok || g != w {
					errs = append(errs, k+": got "+hex(g)+" want "+hex(w))
				}
			}
			return errs
		})
	})
}

func hex(v uint32) string {
	const digits = "0123456789abcdef"
	b := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}
