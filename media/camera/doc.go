// Package camera captures frames from a V4L2 video capture device (a USB
// UVC camera, or vivid in the test rig) over media/v4l2's ioctls: format
// negotiation, MMAP streaming and frame delivery without copies when the
// driver's rows are packed. The media pipeline opens one Camera at start-up
// and reopens it (with backoff) only when the device is lost.
//
// The flow follows the kernel's "Streaming I/O (Memory Mapping)" interface
// (Documentation/userspace-api/media/v4l/mmap.rst): QUERYCAP, ENUM_FMT,
// S_FMT, S_PARM, REQBUFS, QUERYBUF + mmap, QBUF all, STREAMON, then poll,
// DQBUF and QBUF again. Only the single-planar capture API is spoken (UVC
// and vivid's default); H.264 cameras deliver Annex B units that the
// pipeline passes through.
package camera
