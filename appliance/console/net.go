package console

import (
	"fmt"
	"net"
)

// SystemInterfaces lists the host's interfaces with their addresses, the
// default for Config.Net.
func SystemInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("console: list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ni := range ifs {
		i := Interface{Name: ni.Name, Up: ni.Flags&net.FlagUp != 0, MAC: ni.HardwareAddr.String()}
		addrs, err := ni.Addrs()
		if err != nil {
			return nil, fmt.Errorf("console: addresses of %s: %w", ni.Name, err)
		}
		for _, a := range addrs {
			i.Addrs = append(i.Addrs, a.String())
		}
		out = append(out, i)
	}
	return out, nil
}
