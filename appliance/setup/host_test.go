package setup

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzHostGuard: whatever Host a client sends, the guard never panics and
// lets through only the appliance's names and addresses.
func FuzzHostGuard(f *testing.F) {
	for _, s := range []string{"rebind.evil.example:8091", "localhost", "[::1]:80", "counter-7.local.", "192.0.2.10:8080",
		"[fe80::1%25eth0]:80", "", ":80", "127.0.0.1.nip.io", "0x7f.1", "2130706433", "[::ffff:127.0.0.1]"} {
		f.Add(s)
	}
	ours := netip.MustParseAddr("192.0.2.10")
	g := newHostGuard("Counter-7", func() []netip.Addr { return []netip.Addr{ours} }, time.Now)
	f.Fuzz(func(t *testing.T, host string) {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		r.Host = host
		if !g.ok(r) {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
		switch h {
		case "localhost", "counter-7", "counter-7.local":
			return
		}
		ip, err := netip.ParseAddr(h)
		if err != nil {
			t.Fatalf("Host %q accepted but names neither the appliance nor an address", host)
		}
		if ip = ip.Unmap().WithZone(""); !ip.IsLoopback() && ip != ours {
			t.Fatalf("Host %q accepted: %v is not one of the appliance's addresses", host, ip)
		}
	})
}

// A new DHCP address is served once the interface list is re-read (at most
// ifaceCacheFor later); an address that went away is refused again.
func TestHostGuardFollowsInterfaces(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	list := []netip.Addr{netip.MustParseAddr("192.0.2.10")}
	g := newHostGuard("", func() []netip.Addr { return list }, func() time.Time { return now })
	ask := func(host string) bool {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		r.Host = host
		return g.ok(r)
	}
	if !ask("192.0.2.10:8080") || ask("192.0.2.11:8080") {
		t.Fatal("first lease")
	}
	list = []netip.Addr{netip.MustParseAddr("192.0.2.11")}
	now = now.Add(ifaceCacheFor + time.Second)
	if ask("192.0.2.10:8080") || !ask("192.0.2.11:8080") {
		t.Fatal("new lease not followed")
	}
}
