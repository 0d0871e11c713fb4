package v4l2

import (
	"testing"
	"unsafe"
)

// TestDecoderABI pins the decoder additions: a C program printing them
// with gcc and the aarch64/armhf cross compilers (linux-libc-dev 6.1, run
// under qemu-user) gave 72 and 64 bytes and these numbers on all three.
func TestDecoderABI(t *testing.T) {
	if s := unsafe.Sizeof(DecoderCmd{}); s != 72 {
		t.Errorf("sizeof(v4l2_decoder_cmd) = %d, want 72", s)
	}
	if s := unsafe.Sizeof(Selection{}); s != 64 {
		t.Errorf("sizeof(v4l2_selection) = %d, want 64", s)
	}
	if VIDIOC_DECODER_CMD != 0xc0485660 || VIDIOC_G_SELECTION != 0xc040565e {
		t.Errorf("VIDIOC_DECODER_CMD %#x, VIDIOC_G_SELECTION %#x", VIDIOC_DECODER_CMD, VIDIOC_G_SELECTION)
	}
}
