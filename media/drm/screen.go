package drm

import "time"

// Buffer is one XRGB8888 framebuffer a caller draws into: Pix holds Height
// rows of Stride bytes, four bytes a pixel (B, G, R, X).
type Buffer struct {
	Pix           []byte
	Stride        int
	Width, Height int
}

// Info describes the output a Screen drives.
type Info struct {
	Path, Driver    string
	Connector, CRTC uint32
	Width, Height   int
	Refresh         int // Hz
	Writeback       bool
}

// FlipTimeout bounds the wait for a page flip's completion event: a
// display at 24 Hz or more flips within 42 ms; anything past this is a
// stuck driver.
const FlipTimeout = 500 * time.Millisecond
