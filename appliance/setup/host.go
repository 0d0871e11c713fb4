package setup

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// hostGuard answers 421 Misdirected Request (RFC 9110 §15.5.20) to any
// request whose Host does not name this appliance: its interface
// addresses, its configured hostname, the mDNS name hostname.local, or
// localhost (issue 12 item 7). A DNS-rebinding page (rebind.evil.example
// resolving to the appliance) is then same-origin in the browser's eyes,
// so Origin and Sec-Fetch-Site checks pass; only Host tells it apart.
type hostGuard struct {
	hostname string // lower case, no trailing dot; "" = none configured
	addrs    func() []netip.Addr
	now      func() time.Time

	mu      sync.Mutex // guards cache, cacheAt
	cache   []netip.Addr
	cacheAt time.Time
}

// ifaceCacheFor bounds how stale the interface list may be (a new DHCP
// lease is seen within this long; until then the connection's own local
// address still matches).
const ifaceCacheFor = 10 * time.Second

func newHostGuard(hostname string, addrs func() []netip.Addr, now func() time.Time) *hostGuard {
	if addrs == nil {
		addrs = interfaceAddrs
	}
	return &hostGuard{hostname: strings.TrimSuffix(strings.ToLower(hostname), "."), addrs: addrs, now: now}
}

func interfaceAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// ok reports whether r's Host names this appliance.
func (g *hostGuard) ok(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	switch {
	case host == "":
		return false
	case host == "localhost":
		return true
	case g.hostname != "" && (host == g.hostname || host == g.hostname+".local"):
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		return true
	}
	// The address the client connected to is one of ours by definition.
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap().WithZone("") == ip {
			return true
		}
	}
	now := g.now()
	g.mu.Lock()
	if g.cache == nil || now.Sub(g.cacheAt) > ifaceCacheFor {
		g.cache, g.cacheAt = g.addrs(), now
	}
	list := g.cache
	g.mu.Unlock()
	for _, a := range list {
		if a.WithZone("") == ip {
			return true
		}
	}
	return false
}

func (g *hostGuard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.ok(r) {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusMisdirectedRequest, apiError{
				Error: "this is the appliance's setup page: open it by the appliance's address or name, not " + clipHost(r.Host),
				Code:  "misdirected",
			})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func clipHost(h string) string {
	if len(h) > 64 {
		h = h[:64]
	}
	return h
}
