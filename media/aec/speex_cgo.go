//go:build cgo

package aec

/*
#cgo pkg-config: speexdsp
// libm after libspeexdsp for a static link (the rig's guest tests), where
// pkg-config leaves Libs.private out and cgo puts its flags after these.
#cgo LDFLAGS: -lspeexdsp -lm
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static int tether_pre_setup(SpeexPreprocessState *p, SpeexEchoState *e, int ns, int agc) {
	int on = 1, off = 0;
	if (e) speex_preprocess_ctl(p, SPEEX_PREPROCESS_SET_ECHO_STATE, e);
	if (ns < 0) {
		speex_preprocess_ctl(p, SPEEX_PREPROCESS_SET_DENOISE, &on);
		speex_preprocess_ctl(p, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &ns);
	} else {
		speex_preprocess_ctl(p, SPEEX_PREPROCESS_SET_DENOISE, &off);
	}
	if (agc) {
		// AGC exists in floating-point builds only (Debian's): the ctl
		// fails harmlessly in fixed point.
		return speex_preprocess_ctl(p, SPEEX_PREPROCESS_SET_AGC, &on);
	}
	return 0;
}

static void tether_echo_rate(SpeexEchoState *e, int rate) {
	speex_echo_ctl(e, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// Available is true: libspeexdsp is linked in.
const Available = true

type impl struct {
	echo *C.SpeexEchoState
	pre  *C.SpeexPreprocessState // nil with NoPreprocess
	cfg  *Config
}

func newImpl(cfg *Config) (*impl, error) {
	tail := int(cfg.Tail * Rate / time.Second)
	echo := C.speex_echo_state_init(C.int(cfg.Frame), C.int(tail))
	if echo == nil {
		return nil, fmt.Errorf("%w: speex_echo_state_init(%d, %d) failed", ErrConfig, cfg.Frame, tail)
	}
	C.tether_echo_rate(echo, Rate)
	im := &impl{echo: echo, cfg: cfg}
	if !cfg.NoPreprocess {
		im.pre = C.speex_preprocess_state_init(C.int(cfg.Frame), Rate)
		if im.pre == nil {
			C.speex_echo_state_destroy(echo)
			return nil, fmt.Errorf("%w: speex_preprocess_state_init failed", ErrConfig)
		}
		agc := C.int(1)
		if cfg.NoAGC {
			agc = 0
		}
		C.tether_pre_setup(im.pre, echo, C.int(cfg.NoiseSuppress), agc)
	}
	return im, nil
}

func (im *impl) process(mic, ref, out []int16) {
	C.speex_echo_cancellation(im.echo, (*C.spx_int16_t)(unsafe.Pointer(&mic[0])),
		(*C.spx_int16_t)(unsafe.Pointer(&ref[0])), (*C.spx_int16_t)(unsafe.Pointer(&out[0])))
	if im.pre != nil {
		C.speex_preprocess_run(im.pre, (*C.spx_int16_t)(unsafe.Pointer(&out[0])))
	}
}

func (im *impl) reset() { C.speex_echo_state_reset(im.echo) }

func (im *impl) close() {
	if im.pre != nil {
		C.speex_preprocess_state_destroy(im.pre)
	}
	C.speex_echo_state_destroy(im.echo)
}
