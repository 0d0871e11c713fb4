package netns

import (
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// PionNet is pion's network (transport.Net) inside a namespace: every
// socket pion opens is created on a thread that joined ns (Do), so a Peer
// or a TURN server in the test process sends and receives as if it ran
// there. It serves the appliance's Peer and the hub's TURN relays alike.
type PionNet struct {
	*stdnet.Net
	ns string
}

var _ transport.Net = (*PionNet)(nil)

// NewPionNet lists ns's interfaces (not the host's) and returns its net.
func NewPionNet(ns string) (*PionNet, error) {
	var n *stdnet.Net
	if err := Do(ns, func() (err error) { n, err = stdnet.NewNet(); return err }); err != nil {
		return nil, err
	}
	return &PionNet{Net: n, ns: ns}, nil
}

func (n *PionNet) UpdateInterfaces() error { return Do(n.ns, n.Net.UpdateInterfaces) }

func (n *PionNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = Do(n.ns, func() (e error) { c, e = n.Net.ListenUDP(network, laddr); return e })
	return c, err
}

func (n *PionNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = Do(n.ns, func() (e error) { c, e = n.Net.ListenPacket(network, address); return e })
	return c, err
}

func (n *PionNet) Dial(network, address string) (c net.Conn, err error) {
	err = Do(n.ns, func() (e error) { c, e = n.Net.Dial(network, address); return e })
	return c, err
}

func (n *PionNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = Do(n.ns, func() (e error) { c, e = n.Net.DialUDP(network, laddr, raddr); return e })
	return c, err
}

func (n *PionNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (c transport.TCPConn, err error) {
	err = Do(n.ns, func() (e error) { c, e = n.Net.DialTCP(network, laddr, raddr); return e })
	return c, err
}

func (n *PionNet) ListenTCP(network string, laddr *net.TCPAddr) (l transport.TCPListener, err error) {
	err = Do(n.ns, func() (e error) { l, e = n.Net.ListenTCP(network, laddr); return e })
	return l, err
}

func (n *PionNet) CreateDialer(d *net.Dialer) transport.Dialer { return pionDialer{d: d, ns: n.ns} }

type pionDialer struct {
	d  *net.Dialer
	ns string
}

func (d pionDialer) Dial(network, address string) (c net.Conn, err error) {
	err = Do(d.ns, func() (e error) { c, e = d.d.Dial(network, address); return e })
	return c, err
}
