// Package rig builds a minimal Linux kernel and a busybox initramfs, boots
// them under qemu (TCG) and runs Go test binaries inside, so tests touch real
// gpio-sim, vivid, vicodec, snd-aloop and netem drivers that the host lacks.
// The host side (Run) installs its tools, caches the kernel keyed by the
// config fragment and the kernel source version, and returns each guest test
// binary's output and exit status; the guest side (InGuest, NetPair) is what
// tests built with the `rig` tag use inside the guest.
//
// The kernel is `make tinyconfig` plus the checked-in fragments in config/
// (common.config and one per arch) and `make olddefconfig`; every symbol the
// fragments set must survive olddefconfig, or the build fails naming it,
// because Kconfig silently drops symbols whose dependencies are unmet.
package rig
