package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/board/netns"
)

// CustomerState is what the customer page's window.tether says: the
// browser tests of signaling/hub and cmd/tether-bench read it the same way.
type CustomerState struct {
	State      string   `json:"state"`
	Detail     string   `json:"detail"`
	Position   *int     `json:"position"`
	Attempt    int      `json:"attempt"`
	UserID     string   `json:"userId"`
	DeviceID   string   `json:"deviceId"`
	Permission string   `json:"permission"`
	Transport  string   `json:"transport"`
	Recovered  bool     `json:"recovered"`
	PCState    string   `json:"pcState"`
	Calls      int      `json:"calls"`
	Beats      int      `json:"beats"`
	History    []string `json:"history"`
	Toasts     []string `json:"toasts"`
	Banner     string   `json:"banner"`
	Stats      struct {
		FramesDecoded int     `json:"framesDecoded"`
		BytesReceived int     `json:"bytesReceived"`
		BytesSent     int     `json:"bytesSent"`
		FrameWidth    int     `json:"frameWidth"`
		Signaling     string  `json:"signalingState"`
		ICEUfrag      string  `json:"iceUfrag"`
		RTTMs         float64 `json:"rttMs"`
	} `json:"stats"`
}

// CustomerStateExpr evaluates to a CustomerState in the customer page.
const CustomerStateExpr = `(async () => {
  const T = window.tether;
  if (!T) return {state: "no-page"};
  return {state: T.state, detail: T.detail, position: T.position, attempt: T.attempt, userId: T.userId,
    deviceId: T.deviceId, permission: T.permission, transport: T.transport, recovered: T.recovered,
    pcState: T.pcState, calls: T.calls, beats: T.beats, history: T.history, toasts: T.toasts,
    banner: document.getElementById("banner").textContent, stats: await T.stats()};
})()`

// Browser is a headless Chromium started inside network namespace NS (or
// on the host when NS is empty); it ends at t's cleanup.
type Browser struct {
	t   testing.TB
	ctx context.Context
}

// StartBrowser starts Chromium with ChromiumOpts (profile under dir) plus
// flags, inside ns when ns is not empty.
func StartBrowser(t testing.TB, ns, dir string, flags map[string]any) *Browser {
	t.Helper()
	bin := RequireChromium(t)
	if ns != "" {
		w, err := netns.Wrapper(dir, ns, bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = w
	}
	opts := ChromiumOpts(bin, dir)
	for k, v := range flags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// Started without a timeout: a timeout here would end the browser.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium (netns %q): %v", ns, err)
	}
	return &Browser{t: t, ctx: bctx}
}

// Tab is one page in its own tab.
type Tab struct {
	t      testing.TB
	Name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// Open opens url in a new phone-sized tab within 30 s.
func (b *Browser) Open(name, url string) *Tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	tb := &Tab{t: b.t, Name: name, ctx: ctx, cancel: cancel}
	// The tab lives as long as the context of its first action: no timeout there.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: new tab: %v", name, err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := chromedp.Do(rctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return tb
}

// Close closes the tab.
func (tb *Tab) Close() { tb.cancel() }

// Do runs actions in the tab within 30 s.
func (tb *Tab) Do(steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// Eval runs a JavaScript expression in the tab, awaiting a promise, and
// decodes its JSON value.
func Eval[T any](tb *Tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// State reads the customer page's state.
func (tb *Tab) State() (CustomerState, error) { return Eval[CustomerState](tb, CustomerStateExpr) }

// WaitFor polls the customer page every 50 ms until cond holds, failing t
// after d.
func (tb *Tab) WaitFor(what string, d time.Duration, cond func(CustomerState) bool) CustomerState {
	tb.t.Helper()
	s, err := tb.Poll(d, cond)
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.Name, what, err)
	}
	return s
}

// Poll is WaitFor returning an error instead of failing.
func (tb *Tab) Poll(d time.Duration, cond func(CustomerState) bool) (CustomerState, error) {
	deadline := time.Now().Add(d)
	var last CustomerState
	var lastErr error
	for {
		s, err := tb.State()
		if err == nil {
			last = s
			if cond(s) {
				return s, nil
			}
		}
		lastErr = err
		if time.Now().After(deadline) {
			j, _ := json.Marshal(last)
			return last, fmt.Errorf("not seen within %v (err %v); page: %s", d, lastErr, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
