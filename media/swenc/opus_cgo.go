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

static int tether_opus_dec_reset(OpusDecoder *d) {
	return opus_decoder_ctl(d, OPUS_RESET_STATE);
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

// opusDecImpl decodes to mono: libopus downmixes a stereo stream when the
// decoder is created with one channel (opus_decoder_create(3)).
type opusDecImpl struct{ dec *C.OpusDecoder }

func newOpusDecImpl() (*opusDecImpl, error) {
	var rc C.int
	dec := C.opus_decoder_create(OpusSampleRate, OpusChannels, &rc)
	if rc != C.OPUS_OK || dec == nil {
		return nil, fmt.Errorf("%w: opus_decoder_create: %s", ErrDecode, C.GoString(C.opus_strerror(rc)))
	}
	return &opusDecImpl{dec: dec}, nil
}

func (o *opusDecImpl) decode(packet []byte, out []int16, fec bool) (int, error) {
	var data *C.uchar
	if len(packet) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&packet[0]))
	}
	f := C.int(0)
	if fec {
		f = 1
	}
	n := C.opus_decode(o.dec, data, C.opus_int32(len(packet)), (*C.opus_int16)(unsafe.Pointer(&out[0])), C.int(len(out)), f)
	if n < 0 {
		return 0, fmt.Errorf("%w: opus_decode: %s", ErrDecode, C.GoString(C.opus_strerror(n)))
	}
	return int(n), nil
}

func (o *opusDecImpl) reset() { C.tether_opus_dec_reset(o.dec) }

func (o *opusDecImpl) close() { C.opus_decoder_destroy(o.dec) }
