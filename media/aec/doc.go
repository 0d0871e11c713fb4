// Package aec cancels the speaker's echo from the microphone: the
// customer's voice, played by the counter's speaker, reaches the counter's
// microphone and would be sent back to the customer (issue 15). It wraps
// libspeexdsp (Debian libspeexdsp-dev): the MDF adaptive filter
// (speex_echo_cancellation) with the playback as its reference, then the
// same library's preprocessor for residual echo suppression, noise
// suppression and automatic gain control.
//
// Why speexdsp and not webrtc-audio-processing (Debian 12 ships 0.3, the
// 2016 AEC): on the synthetic echo path of BenchmarkERLE both reach the
// goal, speexdsp is a C API (no C++ shim, no second C++ runtime
// dependency), and it ships a static libspeexdsp.a for amd64, arm64 and
// armhf, which `make dist` links into its static tetherd. The figures are
// in media/aec/compare/README.md.
//
// Alignment. The speaker calls Playback with every chunk it hands to the
// sound card (silence too, so the reference never has gaps) and the
// microphone calls Capture with every chunk it reads; both are paced by
// sound-card clocks at 48 kHz, so consuming the reference sample for
// sample keeps a fixed offset. The reference leads the echo by the
// speaker's ring (20–30 ms) plus the air path; the filter's tail
// (Config.Tail) covers that offset and the room's reverberation. At most
// Config.MaxLead of reference is kept waiting: more (a microphone that
// started late, or clock drift) drops the oldest samples, which keeps the
// reference from lagging behind its own echo (a non-causal echo cannot be
// cancelled).
//
// With cgo off there is no canceller: New returns ErrUnavailable and the
// microphone goes to the encoder untouched.
package aec
