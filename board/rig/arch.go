package rig

import (
	"fmt"
	"runtime"
)

// Arch names a guest architecture the rig can build and boot.
type Arch string

// The architectures the rig boots.
const (
	X86_64 Arch = "x86_64"
	ARM64  Arch = "arm64"
)

// Arches lists every supported Arch.
var Arches = []Arch{X86_64, ARM64}

// String returns the arch name as the kernel's ARCH= spells it.
func (a Arch) String() string { return string(a) }

// ParseArch accepts the kernel spelling and Go's GOARCH spelling.
func ParseArch(s string) (Arch, error) {
	switch s {
	case "x86_64", "amd64":
		return X86_64, nil
	case "arm64", "aarch64":
		return ARM64, nil
	}
	return "", fmt.Errorf("%w: %q (want x86_64 or arm64)", ErrUnsupportedArch, s)
}

// archSpec is everything that differs between the guest architectures.
type archSpec struct {
	goarch      string   // GOARCH of the guest test binaries
	debArch     string   // Debian architecture of the userland
	triplet     string   // Debian multiarch triplet (library directories)
	crossPrefix string   // CROSS_COMPILE when the host is not this arch
	crossGCC    string   // Debian package providing the cross compiler
	image       string   // make target
	imagePath   string   // built image, relative to the build directory
	qemu        string   // qemu binary
	qemuPkg     string   // Debian package providing it
	machine     []string // qemu machine and CPU arguments
	console     string   // kernel console device
}

var specs = map[Arch]archSpec{
	X86_64: {
		goarch: "amd64", debArch: "amd64", triplet: "x86_64-linux-gnu",
		crossPrefix: "x86_64-linux-gnu-", crossGCC: "gcc-x86-64-linux-gnu",
		image: "bzImage", imagePath: "arch/x86/boot/bzImage",
		qemu: "qemu-system-x86_64", qemuPkg: "qemu-system-x86",
		machine: []string{"-M", "pc"},
		console: "ttyS0",
	},
	ARM64: {
		goarch: "arm64", debArch: "arm64", triplet: "aarch64-linux-gnu",
		crossPrefix: "aarch64-linux-gnu-", crossGCC: "gcc-aarch64-linux-gnu",
		image: "Image", imagePath: "arch/arm64/boot/Image",
		qemu: "qemu-system-aarch64", qemuPkg: "qemu-system-arm",
		machine: []string{"-M", "virt", "-cpu", "cortex-a72"},
		console: "ttyAMA0",
	},
}

func (a Arch) spec() (archSpec, error) {
	s, ok := specs[a]
	if !ok {
		return archSpec{}, fmt.Errorf("%w: %q", ErrUnsupportedArch, string(a))
	}
	return s, nil
}

// native reports whether the host runs this arch, so host binaries and the
// host compiler serve the guest directly.
func (s archSpec) native() bool { return s.goarch == runtime.GOARCH }
