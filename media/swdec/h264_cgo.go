//go:build cgo

package swdec

/*
#cgo CFLAGS: -I${SRCDIR}/include
#include <stdlib.h>
#include <string.h>
#include <openh264/codec_api.h>

// The C calls through openh264's vtable (codec_api.h's C interface).
static ISVCDecoder* dec_new(long* rv) {
	ISVCDecoder* d = NULL;
	*rv = WelsCreateDecoder(&d);
	if (*rv != 0 || d == NULL) return NULL;
	SDecodingParam p;
	memset(&p, 0, sizeof p);
	p.sVideoProperty.size = sizeof p.sVideoProperty;
	p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
	// Slice copy within a picture, never across an IDR: a damaged picture
	// is patched from the previous one and the caller asks for a keyframe.
	p.eEcActiveIdc = ERROR_CON_SLICE_COPY;
	*rv = (*d)->Initialize(d, &p);
	if (*rv != 0) { WelsDestroyDecoder(d); return NULL; }
	return d;
}

static int dec_decode(ISVCDecoder* d, const unsigned char* src, int n, unsigned char** dst, SBufferInfo* info) {
	memset(info, 0, sizeof *info);
	return (int)(*d)->DecodeFrameNoDelay(d, src, n, dst, info);
}

static void dec_free(ISVCDecoder* d) {
	(*d)->Uninitialize(d);
	WelsDestroyDecoder(d);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	// Links the static libopenh264 (encoder and decoder in one archive).
	_ "github.com/pion/mediadevices/pkg/codec/openh264"
)

// Available is true: openh264's decoder is linked in.
const Available = true

// h264Impl owns the C decoder and the memory decode passes to C.
type h264Impl struct {
	d    *C.ISVCDecoder
	dst  *[3]*C.uchar   // C memory: the plane pointers the decoder fills
	info *C.SBufferInfo // C memory
	src  unsafe.Pointer // C copy of the access unit (cgo forbids Go memory kept by C)
	cap  int
}

func newH264Impl() (*h264Impl, error) {
	var rv C.long
	d := C.dec_new(&rv)
	if d == nil {
		return nil, fmt.Errorf("swdec: openh264 decoder init failed (%d)", int(rv))
	}
	return &h264Impl{
		d:    d,
		dst:  (*[3]*C.uchar)(C.calloc(3, C.size_t(unsafe.Sizeof((*C.uchar)(nil))))),
		info: (*C.SBufferInfo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.SBufferInfo{})))),
	}, nil
}

// need names the decoding states after which only an IDR helps
// (codec_app_def.h DECODING_STATE).
const need = C.dsRefLost | C.dsBitstreamError | C.dsNoParamSets | C.dsDepLayerLost | C.dsRefListNullPtrs

func (im *h264Impl) decode(au []byte) (Picture, bool, error) {
	if len(au) > im.cap {
		C.free(im.src)
		im.cap = max(len(au), 64<<10)
		im.src = C.malloc(C.size_t(im.cap))
	}
	copy(unsafe.Slice((*byte)(im.src), im.cap), au)
	st := C.dec_decode(im.d, (*C.uchar)(im.src), C.int(len(au)), &im.dst[0], im.info)
	if st&need != 0 {
		return Picture{}, false, fmt.Errorf("%w (state %#x)", ErrNeedKeyframe, int(st))
	}
	if st != 0 && st&C.dsDataErrorConcealed == 0 {
		return Picture{}, false, fmt.Errorf("%w (state %#x)", ErrNeedKeyframe, int(st))
	}
	if im.info.iBufferStatus != 1 {
		return Picture{}, false, nil
	}
	sb := (*C.SSysMEMBuffer)(unsafe.Pointer(&im.info.UsrData))
	w, h := int(sb.iWidth), int(sb.iHeight)
	ys, cs := int(sb.iStride[0]), int(sb.iStride[1])
	if w <= 0 || h <= 0 || ys < w || cs < (w+1)/2 || im.dst[0] == nil || im.dst[1] == nil || im.dst[2] == nil {
		return Picture{}, false, fmt.Errorf("%w: bad picture %dx%d strides %d/%d", ErrNeedKeyframe, w, h, ys, cs)
	}
	ch := (h + 1) / 2
	return Picture{
		Y:       unsafe.Slice((*byte)(unsafe.Pointer(im.dst[0])), ys*(h-1)+w),
		U:       unsafe.Slice((*byte)(unsafe.Pointer(im.dst[1])), cs*(ch-1)+(w+1)/2),
		V:       unsafe.Slice((*byte)(unsafe.Pointer(im.dst[2])), cs*(ch-1)+(w+1)/2),
		YStride: ys, CStride: cs, Width: w, Height: h,
	}, true, nil
}

func (im *h264Impl) close() {
	C.dec_free(im.d)
	C.free(unsafe.Pointer(im.dst))
	C.free(unsafe.Pointer(im.info))
	C.free(im.src)
}
