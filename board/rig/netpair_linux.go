//go:build linux

package rig

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetEnd is one side of a NetPair: a network namespace holding one end of
// the veth link.
type NetEnd struct {
	NS   string     // namespace name (ip netns)
	Dev  string     // veth device inside it
	Addr netip.Addr // its IPv4 address
}

// NetPair is two network namespaces joined by a veth link, where tc netem
// can add delay and loss in either direction: the host (and CI) have no
// netem, the guest kernel does. It is where the socket and WebRTC layers'
// delay scenarios plug in: create sockets on each side with Do, shape the
// link with Netem. Both namespaces use 10.213.0.1 and 10.213.0.2; being
// namespaces, several pairs do not collide, and the guest has no NIC.
type NetPair struct {
	A, B NetEnd
	ip   string
}

// NewNetPair creates the namespaces <name>-a and <name>-b and the veth link
// between them, with addresses up. It needs root and iproute2's ip (the
// rig guest has both).
func NewNetPair(ctx context.Context, name string) (*NetPair, error) {
	ip, err := iproute2("ip")
	if err != nil {
		return nil, err
	}
	p := &NetPair{
		A:  NetEnd{NS: name + "-a", Dev: "veth-a", Addr: netip.MustParseAddr("10.213.0.1")},
		B:  NetEnd{NS: name + "-b", Dev: "veth-b", Addr: netip.MustParseAddr("10.213.0.2")},
		ip: ip,
	}
	steps := [][]string{
		{"netns", "add", p.A.NS},
		{"netns", "add", p.B.NS},
		{"link", "add", p.A.Dev, "netns", p.A.NS, "type", "veth", "peer", "name", p.B.Dev, "netns", p.B.NS},
	}
	for _, e := range []NetEnd{p.A, p.B} {
		steps = append(steps,
			[]string{"-n", e.NS, "addr", "add", e.Addr.String() + "/24", "dev", e.Dev},
			[]string{"-n", e.NS, "link", "set", e.Dev, "up"},
			[]string{"-n", e.NS, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := runLogged(exec.CommandContext(ctx, ip, s...)); err != nil {
			p.Close()
			return nil, fmt.Errorf("rig: netpair %s: %w", name, err)
		}
	}
	return p, nil
}

// Netem replaces the root qdisc of end's device with netem and the given
// parameters ("delay", "100ms", "loss", "10%"), shaping packets that leave
// end (tc-netem(8)).
func (p *NetPair) Netem(ctx context.Context, end NetEnd, params ...string) error {
	tc, err := iproute2("tc")
	if err != nil {
		return err
	}
	args := append([]string{"-n", end.NS, "qdisc", "replace", "dev", end.Dev, "root", "netem"}, params...)
	if err := runLogged(exec.CommandContext(ctx, tc, args...)); err != nil {
		return fmt.Errorf("rig: netem: %w", err)
	}
	return nil
}

// ClearNetem removes end's netem qdisc, if any.
func (p *NetPair) ClearNetem(ctx context.Context, end NetEnd) error {
	tc, err := iproute2("tc")
	if err != nil {
		return err
	}
	// tc fails with "No such file or directory" when no netem was set,
	// which leaves the link as wanted: its error is not one.
	_ = exec.CommandContext(ctx, tc, "-n", end.NS, "qdisc", "del", "dev", end.Dev, "root").Run()
	return nil
}

// Exec runs a command inside end's namespace (ip netns exec), e.g. iptables.
func (p *NetPair) Exec(ctx context.Context, end NetEnd, name string, args ...string) error {
	full := append([]string{"netns", "exec", end.NS, name}, args...)
	if err := runLogged(exec.CommandContext(ctx, p.ip, full...)); err != nil {
		return fmt.Errorf("rig: netns %s: %w", end.NS, err)
	}
	return nil
}

// Do runs fn on an OS thread switched into end's namespace. Sockets fn
// creates (net.Listen, net.Dial, net.ListenPacket) belong to that namespace
// for their whole life, wherever they are used afterwards; goroutines fn
// starts do not run in it.
func (p *NetPair) Do(end NetEnd, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("rig: netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", end.NS))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("rig: netns %s: %w", end.NS, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("rig: setns %s: %w", end.NS, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and dies with this goroutine rather than
		// carrying the wrong namespace back into the scheduler.
		return fmt.Errorf("rig: setns back from %s: %w", end.NS, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// Close deletes both namespaces (and with them the veth link).
func (p *NetPair) Close() error {
	var first error
	for _, e := range []NetEnd{p.A, p.B} {
		if err := exec.Command(p.ip, "netns", "del", e.NS).Run(); err != nil && first == nil {
			first = fmt.Errorf("rig: netns del %s: %w", e.NS, err)
		}
	}
	return first
}

// iproute2 finds iproute2's ip or tc: /usr/sbin and /sbin come before PATH
// because busybox's applets of the same name can do neither netns nor
// netem.
func iproute2(name string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Lstat(p); err == nil {
			if fi.Mode()&os.ModeSymlink != 0 {
				if t, err := os.Readlink(p); err == nil && filepath.Base(t) == "busybox" {
					continue
				}
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("rig: %s (iproute2) not found", name)
}
