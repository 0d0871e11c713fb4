// Package v4l2m2m drives a hardware video encoder through the Linux V4L2
// "Memory-to-Memory Stateful Video Encoder Interface"
// (Documentation/userspace-api/media/v4l/dev-encoder.rst): raw frames go in
// on the OUTPUT queue and H.264 access units (or another coded format, such
// as vicodec's FWHT) come back on the CAPTURE queue. One Encoder owns one
// device node from Run's start to its end, with a single goroutine running
// the buffer state machine, so it can be tested end to end over v4l2fake.Fake.
//
// On Raspberry Pi boards the node is bcm2835-codec's /dev/video11; Find
// locates an encoder node by the coded format it produces.
package v4l2m2m
