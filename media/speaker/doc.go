// Package speaker plays 48 kHz mono 16-bit PCM on an ALSA playback device
// by speaking the kernel's PCM ioctls (media/alsa) on /dev/snd/pcmC*D*p
// directly, in pure Go, so it cross-compiles with cgo off. It is the
// mirror of media/mic: the media layer opens one Speaker at start-up,
// keeps it open between customers (writing silence) and reopens it only
// when the device is lost.
//
// The flow is the one alsa-lib's hw plugin uses: HW_PARAMS (interleaved
// S16_LE, 48 kHz, mono or stereo duplicated, 10 ms periods, a 30 ms ring),
// PREPARE, then WRITEI_FRAMES in non-blocking mode under poll; an underrun
// (EPIPE) is recovered with PREPARE and the stream restarts on the next
// write (the kernel's default start threshold is one frame).
package speaker
