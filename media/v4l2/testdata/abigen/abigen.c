/* abigen prints the videodev2 ABI facts that media/v4l2's golden tests pin:
 * struct sizes, field offsets and ioctl numbers, as Go map entries. It is run
 * once per architecture by gen.sh; its output is pasted into abi_golden_test.go.
 * Nothing at build or test time depends on it. */
#include <stdio.h>
#include <stddef.h>
#include <linux/videodev2.h>

#define S(t) printf("\t\t\"sizeof(%s)\": %zu,\n", #t, sizeof(struct t))
#define O(t, f) printf("\t\t\"%s.%s\": %zu,\n", #t, #f, offsetof(struct t, f))
#define I(n) printf("\t\t\"%s\": 0x%08lx,\n", #n, (unsigned long)(n))

int main(void) {
	printf("\tsizes: map[string]uintptr{\n");
	S(v4l2_capability); S(v4l2_fmtdesc); S(v4l2_pix_format); S(v4l2_plane_pix_format);
	S(v4l2_pix_format_mplane); S(v4l2_format); S(v4l2_requestbuffers); S(v4l2_timecode);
	S(v4l2_plane); S(v4l2_buffer); S(v4l2_exportbuffer); S(v4l2_fract); S(v4l2_captureparm);
	S(v4l2_outputparm); S(v4l2_streamparm); S(v4l2_control); S(v4l2_queryctrl);
	S(v4l2_ext_control); S(v4l2_ext_controls); S(v4l2_encoder_cmd); S(v4l2_event_subscription);
	S(v4l2_event); S(v4l2_frmsizeenum);
	printf("\t},\n\toffsets: map[string]uintptr{\n");
	O(v4l2_capability, capabilities); O(v4l2_capability, device_caps);
	O(v4l2_fmtdesc, description); O(v4l2_fmtdesc, pixelformat);
	O(v4l2_pix_format_mplane, plane_fmt); O(v4l2_pix_format_mplane, num_planes);
	O(v4l2_format, fmt);
	O(v4l2_requestbuffers, capabilities); O(v4l2_requestbuffers, flags);
	O(v4l2_plane, m); O(v4l2_plane, data_offset);
	O(v4l2_buffer, field); O(v4l2_buffer, timestamp); O(v4l2_buffer, timecode);
	O(v4l2_buffer, sequence); O(v4l2_buffer, memory); O(v4l2_buffer, m); O(v4l2_buffer, length);
	O(v4l2_buffer, reserved2); O(v4l2_buffer, request_fd);
	O(v4l2_exportbuffer, fd);
	O(v4l2_streamparm, parm);
	O(v4l2_ext_control, value); O(v4l2_ext_controls, controls);
	O(v4l2_encoder_cmd, raw);
	O(v4l2_event, u); O(v4l2_event, pending); O(v4l2_event, timestamp); O(v4l2_event, id);
	O(v4l2_frmsizeenum, discrete);
	printf("\t},\n\tioctls: map[string]uint32{\n");
	I(VIDIOC_QUERYCAP); I(VIDIOC_ENUM_FMT); I(VIDIOC_G_FMT); I(VIDIOC_S_FMT); I(VIDIOC_TRY_FMT);
	I(VIDIOC_REQBUFS); I(VIDIOC_QUERYBUF); I(VIDIOC_QBUF); I(VIDIOC_DQBUF); I(VIDIOC_EXPBUF);
	I(VIDIOC_STREAMON); I(VIDIOC_STREAMOFF); I(VIDIOC_G_PARM); I(VIDIOC_S_PARM);
	I(VIDIOC_G_CTRL); I(VIDIOC_S_CTRL); I(VIDIOC_QUERYCTRL);
	I(VIDIOC_G_EXT_CTRLS); I(VIDIOC_S_EXT_CTRLS); I(VIDIOC_TRY_EXT_CTRLS);
	I(VIDIOC_ENUM_FRAMESIZES); I(VIDIOC_ENCODER_CMD); I(VIDIOC_TRY_ENCODER_CMD);
	I(VIDIOC_DQEVENT); I(VIDIOC_SUBSCRIBE_EVENT); I(VIDIOC_UNSUBSCRIBE_EVENT);
	printf("\t},\n\tconsts: map[string]uint32{\n");
	I(V4L2_CAP_VIDEO_M2M_MPLANE); I(V4L2_CAP_VIDEO_M2M); I(V4L2_CAP_STREAMING); I(V4L2_CAP_DEVICE_CAPS);
	I(V4L2_PIX_FMT_YUYV); I(V4L2_PIX_FMT_NV12); I(V4L2_PIX_FMT_YUV420); I(V4L2_PIX_FMT_MJPEG);
	I(V4L2_PIX_FMT_H264); I(V4L2_PIX_FMT_FWHT);
	I(V4L2_CID_MPEG_VIDEO_BITRATE); I(V4L2_CID_MPEG_VIDEO_BITRATE_MODE); I(V4L2_CID_MPEG_VIDEO_H264_I_PERIOD);
	I(V4L2_CID_MPEG_VIDEO_H264_PROFILE); I(V4L2_CID_MPEG_VIDEO_H264_LEVEL); I(V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER);
	I(V4L2_CID_MPEG_VIDEO_H264_MIN_QP); I(V4L2_CID_MPEG_VIDEO_H264_MAX_QP); I(V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME);
	I(V4L2_CID_MPEG_VIDEO_GOP_SIZE); I(V4L2_CID_MPEG_VIDEO_PREPEND_SPSPPS_TO_IDR);
	I(V4L2_BUF_FLAG_KEYFRAME); I(V4L2_BUF_FLAG_ERROR); I(V4L2_BUF_FLAG_LAST); I(V4L2_BUF_FLAG_TIMESTAMP_COPY);
	I(V4L2_EVENT_EOS); I(V4L2_EVENT_SOURCE_CHANGE); I(V4L2_ENC_CMD_STOP); I(V4L2_ENC_CMD_START);
	I(V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE); I(V4L2_MPEG_VIDEO_H264_LEVEL_4_0);
	I(V4L2_MPEG_VIDEO_BITRATE_MODE_CBR); I(V4L2_MPEG_VIDEO_BITRATE_MODE_VBR);
	printf("\t},\n");
	return 0;
}
