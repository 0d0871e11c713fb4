//go:build !linux

package ctlsock

import "net"

// checkPeer relies on the socket's mode 0600 where SO_PEERCRED is missing.
func checkPeer(net.Conn) error { return nil }
