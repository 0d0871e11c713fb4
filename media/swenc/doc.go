// Package swenc is Tether's software codec path: H.264 constrained
// baseline through openh264 (github.com/pion/mediadevices ships its static
// libraries for linux amd64, arm64 and armv7) and Opus through libopus,
// both ways (the encoder for the microphone, the decoder with loss
// concealment for the customer's voice on the speaker; issue 15). The
// media pipeline falls back to it when probing finds no V4L2 mem2mem
// encoder (Raspberry Pi 5, laptops, CI).
//
// Both encoders need cgo. Builds with cgo off (the arm64/armv7 cross builds)
// get stubs whose constructors return ErrNoSoftwareEncoder, so the
// pipeline still builds and uses the hardware encoder or reports the video
// as failed. With cgo on, the Opus binding needs libopus (Debian
// libopus-dev) and openh264's C++ bridge needs g++.
package swenc
