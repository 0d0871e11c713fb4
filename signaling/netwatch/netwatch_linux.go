//go:build linux

package netwatch

import (
	"context"
	"fmt"

	"syscall"

	"golang.org/x/sys/unix"
)

// listen reads rtnetlink messages until ctx ends and signals events for
// the ones that can bring connectivity back: a link that is up and
// running, a new address, a new route.
func listen(ctx context.Context, events chan<- struct{}) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netwatch: netlink socket: %w", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrNetlink{
		Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV4_ROUTE |
			unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV6_ROUTE,
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("netwatch: bind: %w", err)
	}
	// A 200 ms receive timeout lets the loop notice ctx without a second
	// file descriptor.
	tv := unix.Timeval{Usec: 200_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("netwatch: timeout: %w", err)
	}
	buf := make([]byte, 1<<16)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR || err == unix.ENOBUFS {
				if err == unix.ENOBUFS {
					signal(events) // we lost messages; assume a change
				}
				continue
			}
			return fmt.Errorf("netwatch: recv: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if restores(m) {
				signal(events)
			}
		}
	}
	return nil
}

func signal(events chan<- struct{}) {
	select {
	case events <- struct{}{}:
	default:
	}
}

// restores reports whether a message can mean connectivity came back.
func restores(m syscall.NetlinkMessage) bool {
	switch m.Header.Type {
	case unix.RTM_NEWLINK:
		if len(m.Data) < unix.SizeofIfInfomsg {
			return false
		}
		ifi := (*unix.IfInfomsg)(unsafePointer(m.Data))
		const want = unix.IFF_UP | unix.IFF_RUNNING
		return ifi.Flags&want == want
	case unix.RTM_NEWADDR, unix.RTM_NEWROUTE:
		return true
	}
	return false
}
