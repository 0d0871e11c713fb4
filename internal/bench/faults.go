package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tether/internal/testenv"
)

// A fault is applied end to end and then checked: the device back in its
// room, the customer's frames flowing, and nothing lost (the stored
// session still valid: no login was needed; the state file never found
// corrupt and set aside). Recovery time is from the end of the fault (or
// its start, for faults the product must ride through) to frames again.

// after is what a fault returns: when recovery is timed from, and how
// long the device may take.
type fault struct {
	name string
	run  func(w *world) (from time.Time, note string, err error)
}

// inRoom waits until tetherd's socket is connected and, when it dropped
// since the fault began (or tetherd restarted), joined its room again.
func (w *world) inRoom(since time.Time, drops0 string) error {
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		if w.metric(`tether_socket_state{state="connected"}`) == "1" {
			if w.metric("tether_socket_drops_total") == drops0 {
				return nil
			}
			if _, err := w.waitLog(since, 0, "joined room"); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tetherd not back in its room within %v", wait)
		}
	}
}

// check waits for recovery after a fault and says what was lost.
func (w *world) check(f fault) FaultRow {
	row := FaultRow{Fault: f.name, Lost: "none"}
	drops0 := w.metric("tether_socket_drops_total")
	start := time.Now()
	var from time.Time
	err := step(func() {
		var e error
		from, row.Note, e = f.run(w)
		if e != nil {
			w.t.Fatal(e)
		}
	})
	if err != nil {
		row.Lost = "fault not applied: " + err.Error()
		return row
	}
	// Read when the fault ends: frames decoded while it began do not count.
	from0 := frames(w.cust)
	var lost []string
	if err := w.inRoom(start, drops0); err != nil {
		lost = append(lost, "device not back in its room")
	}
	at, err := flowing(w.cust, from0, wait)
	if err != nil {
		// The customer page may have given up on the old call: a fresh
		// customer must get the counter (the device's side recovered).
		w.cust.Close()
		w.cust = w.customer()
		var e2 error
		if _, e2 = w.cust.Poll(wait, func(s testenv.CustomerState) bool { return s.State == "connected" && s.Stats.FramesDecoded > 0 }); e2 != nil {
			lost = append(lost, "customer frames")
		} else {
			at = time.Now()
			row.Note = strings.TrimPrefix(row.Note+"; customer reopened the link", "; ")
		}
	}
	if _, err := w.waitLog(start, 0, "session expired"); err == nil && !strings.HasPrefix(f.name, "session revoked") {
		lost = append(lost, "session")
	}
	if m, _ := filepath.Glob(filepath.Join(w.dir, "app", "tetherd.db.corrupt-*")); len(m) > 0 {
		lost = append(lost, "state file (set aside as corrupt)")
	}
	row.Recovered = len(lost) == 0
	if row.Recovered {
		row.RecoverMs = msSince(from, at)
	} else {
		row.Lost = strings.Join(lost, ", ")
	}
	return row
}

func cutFor(d time.Duration) fault {
	return fault{name: fmt.Sprintf("link cut %s", d), run: func(w *world) (time.Time, string, error) {
		w.topo.LinkDown()
		time.Sleep(d)
		w.topo.LinkUp()
		return time.Now(), "", nil
	}}
}

var hubKill = fault{name: "hub kill -9 and restart", run: func(w *world) (time.Time, string, error) {
	w.hub.kill()
	time.Sleep(time.Second)
	return w.hub.start(), "", nil
}}

func lossFor(d time.Duration) fault {
	return fault{name: "30 % loss A↔B", run: func(w *world) (time.Time, string, error) {
		from := frames(w.cust)
		undo := w.topo.LossForward(0.30)
		time.Sleep(d)
		mid := frames(w.cust)
		undo()
		return time.Now(), fmt.Sprintf("%d frames decoded during %s of loss", mid-from, d), nil
	}}
}

// delayFor adds 500 ms to every packet the device sends (netns.DelayA:
// NFQUEUE in R) for d: a satellite or congested uplink. The call must ride
// through it (frames keep coming) and the socket must stay or come back.
func delayFor(d time.Duration) fault {
	return fault{name: "500 ms delay (device uplink)", run: func(w *world) (time.Time, string, error) {
		from := frames(w.cust)
		drops := w.metric("tether_socket_drops_total")
		dl := w.topo.DelayA(500 * time.Millisecond)
		time.Sleep(d)
		mid := frames(w.cust)
		rtt := w.metric("tether_peer_rtt_seconds")
		st := dl.Stats()
		err := dl.Stop()
		note := fmt.Sprintf("%d frames decoded during %s of delay; last heartbeat RTT %s s; %d packets delayed, %d undelayed (holding line full)",
			mid-from, d, rtt, st.Delayed, st.Overflow)
		if w.metric("tether_socket_drops_total") != drops {
			note += "; the socket dropped and reconnected"
		}
		return time.Now(), note, err
	}}
}

// wsBlocked: R refuses WebSocket upgrades from A (a proxy that only
// passes plain HTTP) and the hub restarts, so tetherd must come back over
// long-polling; when WebSocket is allowed again it must return to it.
var wsBlocked = fault{name: "WebSocket blocked (→ polling, and back)", run: func(w *world) (time.Time, string, error) {
	undo := w.topo.DropInput(w.topo.R, "-s", w.topo.AddrA, "-p", "tcp", "-m", "string", "--algo", "bm", "--string", "transport=websocket")
	w.hub.kill()
	up := w.hub.start()
	var polling time.Time
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if w.metric(`tether_socket_state{state="connected"}`) == "1" && w.metric("tether_socket_websocket") == "0" {
			polling = time.Now()
			break
		}
	}
	undo()
	if polling.IsZero() {
		return up, "", fmt.Errorf("tetherd not connected over polling with WebSocket blocked")
	}
	back := time.Now()
	for deadline := back.Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if w.metric("tether_socket_websocket") == "1" {
			return up, fmt.Sprintf("polling %.2f s after the hub was up; WebSocket again %.2f s after it was allowed",
				polling.Sub(up).Seconds(), time.Since(back).Seconds()), nil
		}
	}
	return up, "", fmt.Errorf("polling %.2f s after the hub was up, but not back to WebSocket within %v of it being allowed", polling.Sub(up).Seconds(), wait)
}}

var udpBlocked = fault{name: "UDP blocked A↔B (→ TURN)", run: func(w *world) (time.Time, string, error) {
	undo := w.topo.DropForward("-p", "udp")
	t0 := time.Now()
	from := frames(w.cust)
	_, err := flowingRelay(w, from)
	note := "relay " + w.sup.current().Metric("tether_peer_relay")
	undo()
	// Timed from the block: frames must come through the relay meanwhile.
	return t0, note, err
}}

func flowingRelay(w *world, from int) (time.Time, error) {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if w.sup.current().Metric("tether_peer_relay") == "1" {
			return flowing(w.cust, from, wait)
		}
	}
	return time.Time{}, fmt.Errorf("the call never moved to the relay")
}

// addrChange moves A to another /30 on the same link (DHCP giving the
// shop a new lease) and back: every change must end in an ICE restart
// with frames again.
var addrChange = fault{name: "device address change (→ ICE restart)", run: func(w *world) (time.Time, string, error) {
	t := w.topo
	base := t.AddrA[:strings.LastIndexByte(t.AddrA, '.')+1]
	newA, newR := base+"10", base+"9"
	if err := step(func() {
		t.Run(t.R, "ip", "addr", "replace", newR+"/30", "dev", t.IfRA)
		t.Run(t.A, "ip", "addr", "add", newA+"/30", "dev", t.IfA)
		t.Run(t.A, "ip", "route", "replace", "default", "via", newR, "src", newA)
		t.Run(t.A, "ip", "addr", "del", t.AddrA+"/30", "dev", t.IfA)
	}); err != nil {
		return time.Time{}, "", err
	}
	from := frames(w.cust)
	moved := time.Now()
	_, err := flowing(w.cust, from, wait)
	if err != nil {
		return moved, "", fmt.Errorf("no frames after the move to %s: %w", newA, err)
	}
	d := time.Since(moved)
	err = step(func() {
		t.Run(t.A, "ip", "addr", "add", t.AddrA+"/30", "dev", t.IfA)
		t.Run(t.A, "ip", "route", "replace", "default", "via", t.AddrRA)
		t.Run(t.A, "ip", "addr", "del", newA+"/30", "dev", t.IfA)
	})
	return time.Now(), fmt.Sprintf("to %s: frames after %.2f s; and back", newA, d.Seconds()), err
}}

var tetherdKill = fault{name: "tetherd kill -9 (→ restarted, stored session)", run: func(w *world) (time.Time, string, error) {
	n := w.sup.restartCount()
	w.sup.current().Kill()
	return restarted(w, n, time.Now())
}}

// restarted waits (up to wait) for the supervisor's restart count to pass
// n after a kill at t0.
func restarted(w *world, n int, t0 time.Time) (time.Time, string, error) {
	for w.sup.restartCount() == n {
		if time.Since(t0) > wait {
			return t0, "", fmt.Errorf("supervisor did not restart tetherd")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return t0, "", nil
}

// powerCut kills tetherd with SIGKILL at a random moment while it writes
// its state file: a burst of link flaps makes it append to the event log
// and save the link state, and the kill lands inside that burst.
func powerCut(rng *rand.Rand) fault {
	return fault{name: "power cut during a store write", run: func(w *world) (time.Time, string, error) {
		n := w.sup.restartCount()
		d := w.sup.current()
		w.topo.LinkDown()
		time.Sleep(jitter(rng, 200*time.Millisecond, 1500*time.Millisecond))
		w.topo.LinkUp()
		time.Sleep(jitter(rng, 0, 300*time.Millisecond))
		d.Kill()
		return restarted(w, n, time.Now())
	}}
}

// revoked: the operator revokes the counter's sessions; tetherd must say
// a login is needed, and resume after `tetherd login` (applied at once
// through its control socket).
var revoked = fault{name: "session revoked (→ login, resumed)", run: func(w *world) (time.Time, string, error) {
	w.hub.cli("", "account", "revoke", counter)
	t0 := time.Now()
	if _, err := w.waitLog(t0.Add(-time.Second), wait, "session expired"); err != nil {
		return t0, "", err
	}
	err := step(func() { testenv.Login(w.t, w.topo.A, w.hubURL, w.sup.current().DB(), counter, password) })
	return time.Now(), "login needed and given", err
}}

// hostileAttacks runs issue 12's attacks (BenchmarkAttack in
// signaling/hub: the hub as a process, the counter a signaling.Device)
// and reads how often the counter dropped off the hub during them.
func hostileAttacks(ctx context.Context, root string) FaultRow {
	row := FaultRow{Fault: "hub attacks of issue 12 (internal/hostile)"}
	t0 := time.Now()
	m, out, err := goBench(ctx, root, "./signaling/hub", "^BenchmarkAttack$", 1, 20*time.Minute)
	if err != nil {
		row.Lost = "benchmark failed: " + tail(out, 300)
		return row
	}
	drops, off := 0.0, 0.0
	n := 0
	for k, v := range m {
		switch {
		case strings.HasSuffix(k, "device-drops"):
			drops += v
			n++
		case strings.HasSuffix(k, "device-off-s"):
			off += v
		}
	}
	row.Note = fmt.Sprintf("%d attacks, counter drops %.0f, off the hub %.1f s, in %s", n, drops, off, time.Since(t0).Round(time.Second))
	row.Recovered = n > 0 && drops == 0
	if n == 0 {
		row.Lost = "no attack figures"
	} else if drops > 0 {
		row.Lost = fmt.Sprintf("the counter left the hub %.0f time(s)", drops)
	} else {
		row.Lost = "none"
	}
	return row
}

// storeIntact reports whether tetherd's state file was never set aside.
func storeIntact(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "tetherd.db.corrupt-*"))
	_, err := os.Stat(filepath.Join(dir, "tetherd.db"))
	return len(m) == 0 && err == nil
}
