// Package rig boots the emulated board: a minimal Linux kernel and a busybox
// initramfs under qemu (TCG), running Go test binaries built with the rig
// tag against real gpio-sim, vivid, vicodec, snd-aloop and netem drivers
// that the host lacks. Run is the host side (install, build, cache, boot,
// collect results); InGuest and NetPair are what rig-tagged tests use
// inside the guest.
//
// The kernel is `make tinyconfig` plus the checked-in fragments in config/
// (common.config and one file per arch) and `make olddefconfig`; every
// symbol the fragments set must survive olddefconfig or the build fails
// naming it, because Kconfig silently drops symbols whose dependencies are
// unmet. The image is cached under .cache/ keyed by the fragment's hash and
// the kernel source version. The guest init (init.sh) reports each test
// binary's exit status on the serial console as RIG-* marker lines, which
// console.go parses.
package rig
