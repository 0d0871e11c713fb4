// Package swdec is Tether's software H.264 decoder for the customer's video
// on boards without a V4L2 mem2mem decoder: openh264's decoder, taken from
// the same static libopenh264 that github.com/pion/mediadevices links for the
// encoder (media/swenc), so the static dist binaries gain no new library.
// It decodes one Annex B access unit at a time into I420 planes.
//
// The headers in include/openh264 are openh264 2.1.1's (BSD-2-Clause, as
// shipped beside mediadevices' libraries); the library itself comes from
// linking github.com/pion/mediadevices/pkg/codec/openh264, whose cgo
// LDFLAGS name the archive for each GOARCH. With cgo off NewH264 returns
// ErrNoSoftwareDecoder.
package swdec
