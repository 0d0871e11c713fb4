//go:build !arm

package v4l2

// On 64-bit targets Go's own alignment of Timespec (two int64) already pads
// struct v4l2_event to the C size; see abi_arm.go.
const eventReservedWords = 8
