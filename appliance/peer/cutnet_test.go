package peer

import (
	"net"
	"sync/atomic"
	"testing"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// cutNet is the OS network with a switch that silently drops every UDP
// datagram the appliance sends or receives: a cut path for tests against a
// real browser, where vnet cannot be used.
type cutNet struct {
	*stdnet.Net
	cut atomic.Bool
}

func newCutNet(t testing.TB) *cutNet {
	t.Helper()
	n, err := stdnet.NewNet()
	must(t, err)
	return &cutNet{Net: n}
}

func (n *cutNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &cutConn{UDPConn: c, cut: &n.cut}, nil
}

type cutConn struct {
	transport.UDPConn
	cut *atomic.Bool
}

func (c *cutConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.UDPConn.ReadFrom(b)
		if err != nil || !c.cut.Load() {
			return n, a, err
		}
	}
}

func (c *cutConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	for {
		n, a, err := c.UDPConn.ReadFromUDP(b)
		if err != nil || !c.cut.Load() {
			return n, a, err
		}
	}
}

func (c *cutConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.cut.Load() {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, a)
}

func (c *cutConn) WriteToUDP(b []byte, a *net.UDPAddr) (int, error) {
	if c.cut.Load() {
		return len(b), nil
	}
	return c.UDPConn.WriteToUDP(b, a)
}

func (c *cutConn) Write(b []byte) (int, error) {
	if c.cut.Load() {
		return len(b), nil
	}
	return c.UDPConn.Write(b)
}

func (c *cutConn) Read(b []byte) (int, error) {
	for {
		n, err := c.UDPConn.Read(b)
		if err != nil || !c.cut.Load() {
			return n, err
		}
	}
}
