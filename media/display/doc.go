// Package display shows the customer's video on a screen attached to the
// appliance, when there is one: the customer's H.264 track (RTP) is
// reassembled into access units, decoded by the board's V4L2 mem2mem
// decoder or openh264, and drawn full screen with the aspect kept, the
// counter's own camera picture small in a corner, onto a DRM/KMS output
// (media/drm) with two dumb buffers and page flips. Without a call it shows
// a status screen ("waiting for a customer", "reconnecting…", "login
// needed").
//
// Data flow, all owned by Display.Run (issue 15 §4):
//
//	RTPReader -> reader goroutine (samplebuilder, keyframe gate) -> aus
//	aus -> Decoder.Decode -> Compositor.Call -> Screen.Back/Present
//	SetStatus -> Status screen (drawn once per change)
//	SelfFrame (camera pipeline's goroutine) -> thumbnail mailbox
//
// The screen and the decoder stay open across customers: SetCustomer
// switches the source without reopening either. A board whose profile
// expects no display never builds a Display, so nothing is decoded.
//
// Files: display.go (Run loop, state), reader.go (RTP to access units,
// keyframe requests), compose.go (layout, YCbCr to XRGB, text), self.go
// (the counter's own picture), decoders.go (hardware or software choice).
package display
