package rig

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// Network gives the guest one NIC on qemu's user-mode network with
// restrict=on: the guest reaches nothing on this machine or beyond except
// the forwards listed (issue 14 §4: a hub on this machine's loopback,
// nothing else). Only arm64 has the NIC (virtio-net on virtio-mmio,
// board/rig/config/arm64.config).
type Network struct {
	// Prefix is the virtual network (qemu's net=); Gateway and DNS are
	// qemu's own addresses in it (host=, dns=). The guest configures
	// its address in Prefix itself.
	Prefix  netip.Prefix
	Gateway netip.Addr
	DNS     netip.Addr
	// Forwards: guest TCP connections to Guest reach Host (a loopback
	// address of this machine), one `busybox nc` per connection (qemu's
	// guestfwd with a chardev serves a single connection only).
	Forwards []Forward
}

// Forward is one guest → host TCP forward.
type Forward struct {
	Guest netip.AddrPort
	Host  netip.AddrPort
}

// QemuNetArgs returns qemu-system-aarch64's -netdev and -device arguments
// for n, for guests the rig does not boot itself (packaging/boot's Debian
// userland with Debian's kernel).
func QemuNetArgs(n *Network) ([]string, error) { return qemuNetArgs(ARM64, n) }

// qemuNetArgs returns the -netdev and -device arguments for n.
func qemuNetArgs(a Arch, n *Network) ([]string, error) {
	if n == nil {
		return nil, nil
	}
	if a != ARM64 {
		return nil, fmt.Errorf("rig: network: only the %s kernel has a NIC, not %s", ARM64, a)
	}
	if !n.Prefix.IsValid() || !n.Prefix.Contains(n.Gateway) || !n.Prefix.Contains(n.DNS) || n.Gateway == n.DNS {
		return nil, fmt.Errorf("rig: network: gateway %s and dns %s must be distinct addresses in %s", n.Gateway, n.DNS, n.Prefix)
	}
	nc, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("%w: busybox on the host forwards the guest's connections (apt-get install busybox)", ErrMissingPackages)
	}
	opts := []string{"user", "id=n0", "restrict=on", "net=" + n.Prefix.Masked().String(),
		"host=" + n.Gateway.String(), "dns=" + n.DNS.String()}
	for _, f := range n.Forwards {
		if !n.Prefix.Contains(f.Guest.Addr()) || f.Guest.Addr() == n.Gateway || f.Guest.Addr() == n.DNS {
			return nil, fmt.Errorf("rig: network: forward %s must be in %s and not its gateway or dns", f.Guest, n.Prefix)
		}
		if !f.Host.Addr().IsLoopback() {
			return nil, errors.New("rig: network: forwards go to this machine's loopback only, not " + f.Host.String())
		}
		cmd := fmt.Sprintf("cmd:%s nc %s %d", nc, f.Host.Addr(), f.Host.Port())
		if strings.Contains(cmd, ",") {
			return nil, fmt.Errorf("rig: network: %q has a comma", cmd)
		}
		opts = append(opts, fmt.Sprintf("guestfwd=tcp:%s-%s", f.Guest, cmd))
	}
	return []string{"-netdev", strings.Join(opts, ","), "-device", "virtio-net-device,netdev=n0"}, nil
}
