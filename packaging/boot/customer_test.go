package boot

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/internal/testenv"
)

// customer is one Chromium customer on this machine at the counter's
// invite link: the page the hub serves, decoding what the guest's tetherd
// sends. The guest asks for it through the control forward
// (GET /frames/PHASE) and gets the answer when frames are decoded.
type customer struct {
	t    *testing.T
	url  string
	ctx  context.Context
	mu   sync.Mutex // one phase at a time
	tab  context.Context
	stop context.CancelFunc
	log  []string
}

func newCustomer(t *testing.T, url string) *customer {
	bin := testenv.RequireChromium(t)
	opts := testenv.ChromiumOpts(bin, t.TempDir())
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancelB()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancelB(); cancelA() })
	return &customer{t: t, url: url, ctx: bctx}
}

type pageState struct {
	State  string `json:"state"`
	Calls  int    `json:"calls"`
	Frames int    `json:"frames"`
	Width  int    `json:"width"`
}

const stateExpr = `(async () => {
  const T = window.tether;
  if (!T) return {state: "no-page"};
  const s = await T.stats();
  return {state: T.state, calls: T.calls, frames: s.framesDecoded || 0, width: s.frameWidth || 0};
})()`

// open (re)loads the invite link in a fresh tab, as a customer pressing
// reload would.
func (c *customer) open() error {
	if c.stop != nil {
		c.stop()
	}
	c.tab, c.stop = chromedp.NewContext(c.ctx)
	if err := chromedp.Do(c.tab); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.tab, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(c.url))
}

func (c *customer) state() (pageState, error) {
	ctx, cancel := context.WithTimeout(c.tab, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](stateExpr, chromedp.EvalAwaitPromise))
}

// frames waits until the page decodes new frames: the first call's on a
// fresh page; later, a new call's, a new peer connection's in the same call
// (its count starts again), or 10 more (1 s at the test's 10 fps) in the
// call the page kept (the hub's recovery keeps the call across a counter
// restart; the guest asks only once the old daemon is gone, so they come
// from the new one). Should the page sit
// without new frames for reloadAfter (the counter went away under it), the
// customer reloads. It returns what it saw, bounded by within.
func (c *customer) frames(phase string, within, reloadAfter time.Duration) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	s0 := pageState{}
	if c.tab == nil {
		if err := c.open(); err != nil {
			return "", err
		}
	} else if s, err := c.state(); err == nil {
		s0 = s
	}
	reloads := 0
	last := pageState{}
	lastNew := time.Now()
	for time.Since(start) < within {
		s, err := c.state()
		if err == nil {
			last = s
			newCall := s.Calls > s0.Calls && s.Frames > 0
			newPC := s.Calls == s0.Calls && s.Frames > 0 && s.Frames < s0.Frames
			more := s.Calls == s0.Calls && s.Frames >= s0.Frames+10
			if s.State == "connected" && (newCall || newPC || more) {
				msg := fmt.Sprintf("phase=%s frames-after=%s frames=%d (was %d) width=%d calls=%d (was %d) reloads=%d",
					phase, time.Since(start).Round(100*time.Millisecond), s.Frames, s0.Frames, s.Width, s.Calls, s0.Calls, reloads)
				c.log = append(c.log, msg)
				return msg, nil
			}
			if s.State == "connected" || s.State == "connecting" {
				lastNew = time.Now()
			}
		}
		if time.Since(lastNew) > reloadAfter {
			if err := c.open(); err != nil {
				return "", err
			}
			s0, reloads, lastNew = pageState{}, reloads+1, time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return "", fmt.Errorf("phase %s: no decoded frames within %s (last page state %+v, %d reloads)", phase, within, last, reloads)
}

// serve answers the guest's GET /frames/PHASE.
func (c *customer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	phase := filepath.Base(r.URL.Path)
	msg, err := c.frames(phase, 3*time.Minute, 45*time.Second)
	if err != nil {
		c.t.Logf("customer: %v", err)
		http.Error(w, err.Error(), http.StatusGatewayTimeout)
		return
	}
	c.t.Logf("customer: %s", msg)
	fmt.Fprintln(w, msg)
}

// hostAddr is this machine's first non-loopback IPv4 address with its
// prefix: the address the hub announces TURN relays on, reached by
// Chromium here directly and by the guest through qemu's forward (the
// guest's virtual network is made to contain it).
func hostAddr(t *testing.T) netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP.To4())
		if !ok || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		return netip.PrefixFrom(ip, 24)
	}
	t.Skip("no non-loopback IPv4 address: Chromium would gather no candidate the TURN relay could reach")
	return netip.Prefix{}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// otherAddrs returns n addresses of p, none equal to avoid, from .1 up.
func otherAddrs(p netip.Prefix, avoid netip.Addr, n int) []netip.Addr {
	var out []netip.Addr
	for a := p.Masked().Addr().Next(); p.Contains(a) && len(out) < n; a = a.Next() {
		if a != avoid {
			out = append(out, a)
		}
	}
	return out
}
