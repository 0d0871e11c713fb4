package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/chromedp/chromedp"

	"tether/internal/testenv"
)

func msSince(a, b time.Time) float64 { return float64(b.Sub(a)) / float64(time.Millisecond) }

// inCall waits until the current customer decodes the counter.
func (w *world) inCall(tab *testenv.Tab) {
	tab.WaitFor("counter connected with decoded frames", wait, func(s testenv.CustomerState) bool {
		return s.State == "connected" && s.Stats.FramesDecoded > 0
	})
}

// flowing waits until the tab decodes frames again after from (a count
// read before): more than from, or a fresh peer connection's first ones.
func flowing(tab *testenv.Tab, from int, within time.Duration) (time.Time, error) {
	_, err := tab.Poll(within, func(s testenv.CustomerState) bool {
		n := s.Stats.FramesDecoded
		return s.State == "connected" && n > 0 && n != from
	})
	return time.Now(), err
}

// hubRestart: the hub is killed with SIGKILL, stays down for outage and is
// started again on the same data file. Reconnect is "hub up" (its
// /healthz answers) → room:join acknowledged, for tetherd (its "joined
// room" log line) and the official client with the seed's settings.
func (w *world) hubRestart(outage time.Duration) (ours, seed float64, err error) {
	w.hub.kill()
	time.Sleep(outage)
	spawn := time.Now()
	up := w.hub.start()
	// A client may join before the /healthz poll sees the hub (both race
	// for the new listener): look for joins from the spawn on, and count
	// such a join as 0 ms after "hub up".
	at, err := w.waitLog(spawn, wait, "joined room")
	if err != nil {
		return 0, 0, err
	}
	sat, err := w.seedJoined(spawn, wait)
	if err != nil {
		return 0, 0, fmt.Errorf("official client: %w", err)
	}
	return max(0, msSince(up, at)), max(0, msSince(up, sat)), nil
}

// linkCut pulls A's cable for d. It returns cut → tetherd degraded (dead
// path detection), cable back → room joined again for tetherd and the
// official client (-1 when the socket lived through the cut: no
// reconnect was needed, so there is nothing to time), and cable back →
// the customer decodes frames again (ICE restart).
type cutResult struct{ detect, ours, seed, media float64 }

func (w *world) linkCut(d time.Duration) (r cutResult, err error) {
	if err := w.peerConnected(); err != nil {
		return r, err
	}
	drops := w.metric("tether_socket_drops_total")
	cut := time.Now()
	w.topo.LinkDown()
	time.Sleep(d)
	// Read while the cable is out: frames decoded after the cut began
	// (the jitter buffer drains) must not count as recovered.
	from := frames(w.cust)
	w.topo.LinkUp()
	up := time.Now()
	// Frames first: the rejoin waits below may take seconds (5 s when
	// the socket lived through the cut and no rejoin comes), and frames
	// polled only after them were timed at the poll, not when they came
	// back: the "frames ~5 s after a 2 s cut" of the first tables. The
	// rejoin times are the log's and the client's own stamps, so reading
	// them later loses nothing.
	fat, err := flowing(w.cust, from, wait)
	if err != nil {
		return r, fmt.Errorf("customer frames: %w", err)
	}
	r.media = msSince(up, fat)
	// Detection counts only when it happened while the cable was out.
	if det, err := w.waitLog(cut, 0, "component=peer", "msg=state", "from=connected"); err == nil && det.Before(up) {
		r.detect = msSince(cut, det)
	}
	// A socket that saw nothing may still be replaced when its liveness
	// probe after the network change fails: give that a few seconds.
	within := 5 * time.Second
	if w.metric("tether_socket_drops_total") != drops {
		within = wait
	}
	r.ours = -1
	if at, err := w.waitLog(up, within, "joined room"); err == nil {
		r.ours = msSince(up, at)
	} else if within == wait {
		return r, err
	}
	r.seed = -1
	if w.seedDropped(cut) {
		sat, err := w.seedJoined(up, wait)
		if err != nil {
			return r, fmt.Errorf("official client: %w", err)
		}
		r.seed = msSince(up, sat)
	}
	return r, nil
}

// deadPath pulls A's cable and keeps it out until tetherd's peer says
// degraded (at most 30 s) plus a second, then puts it back: cut →
// degraded is the dead-path detection, cable back → frames decoded at the
// customer is the ICE restart (with the socket's reconnect inside it).
func (w *world) deadPath() (detect, media float64, err error) {
	// A cut counts from a settled call: the peer connected, not still
	// restarting after the previous one.
	if err := w.peerConnected(); err != nil {
		return 0, 0, err
	}
	cut := time.Now()
	w.topo.LinkDown()
	// Detected: the peer leaves connected (to degraded, or straight to
	// restarting when consent fails first).
	det, derr := w.waitLog(cut, 30*time.Second, "component=peer", "msg=state", "from=connected")
	time.Sleep(time.Second)
	from := frames(w.cust)
	w.topo.LinkUp()
	up := time.Now()
	if derr != nil {
		return 0, 0, derr
	}
	fat, err := flowing(w.cust, from, wait)
	if err != nil {
		return 0, 0, fmt.Errorf("customer frames: %w", err)
	}
	return msSince(cut, det), msSince(up, fat), nil
}

// peerConnected waits until tetherd's peer state is connected.
func (w *world) peerConnected() error {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if w.metric(`tether_peer_state{state="connected"}`) == "1" {
			return nil
		}
	}
	return fmt.Errorf("tetherd's peer not connected within %v", wait)
}

// metric reads one of tetherd's /metrics samples ("" when unreadable).
func (w *world) metric(name string) string {
	var v string
	_ = step(func() { v = w.sup.current().Metric(name) })
	return v
}

// seedDropped says whether the official client lost its connection since t.
func (w *world) seedDropped(t time.Time) bool {
	for _, e := range w.seed.Events() {
		if (e.Name == "disconnect" || e.Name == "connect_error") && !e.At.Before(t) {
			return true
		}
	}
	return false
}

// customerChange: a second customer queues; the first ends the call; the
// time is the end click (the hub's room:user:joined for the next one
// follows at once) → the next customer's first decoded frame.
func (w *world) customerChange() (float64, error) {
	next := w.customer()
	if _, err := next.Poll(wait, func(s testenv.CustomerState) bool { return s.State == "queued" }); err != nil {
		next.Close()
		return 0, fmt.Errorf("second customer not queued: %w", err)
	}
	if err := w.cust.Do(chromedp.Click("#end")); err != nil {
		next.Close()
		return 0, fmt.Errorf("end call: %w", err)
	}
	t0 := time.Now()
	_, err := next.Poll(wait, func(s testenv.CustomerState) bool { return s.State == "connected" && s.Stats.FramesDecoded > 0 })
	t1 := time.Now()
	w.cust.Close()
	w.cust = next
	if err != nil {
		return 0, err
	}
	return msSince(t0, t1), nil
}

// stampJS reads the capture time media/testsrc paints into the top rows
// of every frame (see its package comment for the layout: 2 rows of 32
// cells, white and black references, 48 bits of Unix ms, CRC-8 0x07) from
// the customer's <video id=remote>, at each presented frame, and returns
// now − capture per decoded stamp. Both ends share this machine's clock.
const stampJS = `(async (n, limit) => {
  const v = document.getElementById('remote');
  const c = document.createElement('canvas');
  const g = c.getContext('2d', {willReadFrequently: true});
  const out = [];
  const end = performance.now() + limit;
  const crc8 = (ms) => { let cc = 0; for (let i = 5; i >= 0; i--) { cc ^= Math.floor(ms / 2 ** (8 * i)) & 0xff;
    for (let b = 0; b < 8; b++) cc = (cc & 0x80) ? ((cc << 1) ^ 7) & 0xff : (cc << 1) & 0xff; } return cc; };
  while (out.length < n && performance.now() < end) {
    await new Promise(r => v.requestVideoFrameCallback ? v.requestVideoFrameCallback(() => r()) : setTimeout(r, 40));
    const now = Date.now();
    const w = v.videoWidth, h = v.videoHeight;
    const cell = Math.floor(w / 32) & ~1;
    if (!w || cell < 4) continue;
    c.width = w; c.height = h; g.drawImage(v, 0, 0, w, h);
    const img = g.getImageData(0, 0, w, 2 * cell).data;
    const luma = (cx, row) => { let s = 0, k = 0; const q = cell >> 2;
      for (let y = row * cell + q; y < row * cell + cell - q; y++) for (let x = cx * cell + q; x < cx * cell + cell - q; x++) {
        const i = (y * w + x) * 4; s += 0.299 * img[i] + 0.587 * img[i + 1] + 0.114 * img[i + 2]; k++; }
      return s / k; };
    const bits = []; let ok = true;
    for (let row = 0; row < 2 && ok; row++) {
      const wh = luma(0, row), bl = luma(1, row);
      if (wh - bl < 48) { ok = false; break; }
      for (let cx = 2; cx < 32; cx++) bits.push(luma(cx, row) > (wh + bl) / 2 ? 1 : 0);
    }
    if (!ok) continue;
    let ms = 0, crc = 0;
    for (let i = 0; i < 48; i++) ms = ms * 2 + bits[i];
    for (let i = 48; i < 56; i++) crc = crc * 2 + bits[i];
    if (crc8(ms) !== crc) continue;
    out.push(now - ms);
  }
  return out;
})`

// glassToGlass reads n stamps (within 20 s) at the customer.
func glassToGlass(tab *testenv.Tab, n int) ([]float64, error) {
	v, err := testenv.Eval[[]float64](tab, fmt.Sprintf("%s(%d, %d)", stampJS, n, 3500))
	return v, err
}

func procFDs(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

// jitter is a random duration in [lo, hi).
func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
