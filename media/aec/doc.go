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
// sound card (silence too) and the fill of its ring right after (DELAY);
// the microphone calls Capture with every chunk it reads and the sound
// still waiting in its ring. From those the canceller knows, at each call,
// which far-end sample is playing and which near-end sample is being
// captured, so it lines the reference up by stream position, whatever the
// two goroutines' scheduling (a loaded board reads the microphone in
// bursts). Config.Lead sets the reference a little ahead of the estimate
// and Config.Tail covers that, the air path and the room. The offset is
// re-taken only when three chunks in a row measure the same new offset,
// more than 5 ms away (an xrun, a device reopened).
//
// With cgo off there is no canceller: New returns ErrUnavailable and the
// microphone goes to the encoder untouched.
package aec
