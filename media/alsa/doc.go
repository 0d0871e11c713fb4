// Package alsa speaks the kernel's ALSA PCM ioctls
// (include/uapi/sound/asound.h) on /dev/snd/pcmC*D*[cp] directly, in pure
// Go, so the microphone (media/mic) and the speaker (media/speaker) share
// one ABI definition and cross-compile with cgo off.
//
// The flow is the one alsa-lib's hw plugin uses: HW_PARAMS, PREPARE, then
// READI_FRAMES (capture) or WRITEI_FRAMES (playback) in non-blocking mode
// under poll; an xrun (EPIPE) is recovered with PREPARE by the caller.
package alsa
