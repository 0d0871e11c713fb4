//go:build cgo

package swenc

/*
#cgo pkg-config: opus
#include <opus.h>

static int tether_opus_setup(OpusEncoder *e, opus_int32 bitrate, int fec, int loss, int complexity) {
	int rc;
	if ((rc = opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(complexity))) != OPUS_OK) return rc;
	if ((rc = opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate))) != OPUS_OK) return rc;
	if ((rc = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(fec))) != OPUS_OK) return rc;
	if ((rc = opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(loss))) != OPUS_OK) return rc;
	if ((rc = opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPUS_OK) return rc;
	return OPUS_OK;
}

static int tether_opus_bitrate(OpusEncoder *e, opus_int32 bitrate) {
	return opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate));
}

static int tether_opus_fec(OpusEncoder *e, opus_int32 *v) {
	return opus_encoder_ctl(e, OPUS_GET_INBAND_FEC(v));
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

type opusImpl struct{ enc *C.OpusEncoder }

func newOpusImpl(cfg *OpusConfig) (*opusImpl, error) {
	var rc C.int
	enc := C.opus_encoder_create(OpusSampleRate, OpusChannels, C.OPUS_APPLICATION_VOIP, &rc)
	if rc != C.OPUS_OK || enc == nil {
		return nil, fmt.Errorf("%w: opus_encoder_create: %s", ErrEncode, C.GoString(C.opus_strerror(rc)))
	}
	fec := C.int(1)
	if cfg.NoFEC {
		fec = 0
	}
	if rc := C.tether_opus_setup(enc, C.opus_int32(cfg.Bitrate), fec, C.int(cfg.PacketLossPercent), C.int(cfg.Complexity)); rc != C.OPUS_OK {
		C.opus_encoder_destroy(enc)
		return nil, fmt.Errorf("%w: opus_encoder_ctl: %s", ErrEncode, C.GoString(C.opus_strerror(rc)))
	}
	return &opusImpl{enc: enc}, nil
}

func (o *opusImpl) encode(pcm []int16, out []byte) (int, error) {
	n := C.opus_encode(o.enc, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return 0, fmt.Errorf("%w: opus_encode: error %d", ErrEncode, int(n))
	}
	return int(n), nil
}

func (o *opusImpl) setBitrate(bps int) error {
	if rc := C.tether_opus_bitrate(o.enc, C.opus_int32(bps)); rc != C.OPUS_OK {
		return fmt.Errorf("%w: OPUS_SET_BITRATE %d: error %d", ErrConfig, bps, int(rc))
	}
	return nil
}

// fec reports whether in-band FEC is on (for tests).
func (o *opusImpl) fec() bool {
	var v C.opus_int32
	C.tether_opus_fec(o.enc, &v)
	return v == 1
}

func (o *opusImpl) close() { C.opus_encoder_destroy(o.enc) }
