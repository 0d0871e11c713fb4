// Package mic captures 48 kHz mono 16-bit PCM from an ALSA capture device
// by speaking the kernel's PCM ioctls (include/uapi/sound/asound.h) on
// /dev/snd/pcmC*D*c directly, in pure Go, so it cross-compiles with cgo
// off. The media pipeline opens one Mic at start-up and reopens it only
// when the device is lost.
//
// The flow is the one alsa-lib's hw plugin uses: HW_PARAMS (interleaved
// S16_LE, 48 kHz, mono or stereo downmixed, 20 ms periods), PREPARE, then
// READI_FRAMES in non-blocking mode under poll; an overrun (EPIPE) is
// recovered with PREPARE.
package mic
