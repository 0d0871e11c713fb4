// Package drm drives a Linux DRM/KMS display directly, with no X or
// Wayland: it finds a connected connector, sets its preferred mode on a CRTC
// with two XRGB8888 dumb buffers, and page-flips between them (legacy
// modesetting ioctls, include/uapi/drm/drm_mode.h). Where the driver has a
// writeback connector (vkms; some SoC display engines) Capture reads back
// what the CRTC actually scanned out, through an atomic commit with
// WRITEBACK_FB_ID and WRITEBACK_OUT_FENCE_PTR
// (Documentation/gpu/drm-kms.rst, "Writeback Connectors").
//
// The ioctls are written by hand in the style of media/v4l2: struct mirrors
// in abi.go, sizes and request numbers pinned per GOARCH in abi_test.go, the
// calls in screen_linux.go; other systems get a stub returning
// ErrUnsupported.
package drm
