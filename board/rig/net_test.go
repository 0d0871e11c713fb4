package rig

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

func TestQemuNetArgs(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("no busybox on the host")
	}
	ap := netip.MustParseAddrPort
	n := &Network{
		Prefix: netip.MustParsePrefix("192.0.2.0/24"), Gateway: netip.MustParseAddr("192.0.2.1"), DNS: netip.MustParseAddr("192.0.2.3"),
		Forwards: []Forward{{Guest: ap("192.0.2.2:8443"), Host: ap("127.0.0.1:8443")}},
	}
	args, err := qemuNetArgs(ARM64, n)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{"user,id=n0,restrict=on,net=192.0.2.0/24,host=192.0.2.1,dns=192.0.2.3,guestfwd=tcp:192.0.2.2:8443-cmd:",
		" nc 127.0.0.1 8443", "-device virtio-net-device,netdev=n0"} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	if args, err := qemuNetArgs(ARM64, nil); err != nil || args != nil {
		t.Errorf("no network: %q, %v", args, err)
	}
	if _, err := qemuNetArgs(X86_64, n); err == nil {
		t.Error("x86_64 has no NIC, yet a network was accepted")
	}
	bad := *n
	bad.Forwards = []Forward{{Guest: ap("192.0.2.2:80"), Host: ap("192.0.2.9:80")}}
	if _, err := qemuNetArgs(ARM64, &bad); err == nil {
		t.Error("a forward off this machine's loopback was accepted")
	}
	bad.Forwards = []Forward{{Guest: ap("198.51.100.1:80"), Host: ap("127.0.0.1:80")}}
	if _, err := qemuNetArgs(ARM64, &bad); err == nil {
		t.Error("a forward outside the guest's network was accepted")
	}
}
