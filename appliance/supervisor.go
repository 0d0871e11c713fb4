package appliance

import (
	"context"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/appliance/health"
)

// supervisor watches for a stuck appliance (the seed's fallback 3:
// "reconnect fails → reload"): an owner goroutine that no longer answers
// (deadlock), or no progress — the hub unreachable for Config.Stuck while
// the network is up. It feeds the systemd watchdog only while the probes
// pass, so a wedged process is also killed by systemd.
type supervisor struct {
	a      *App
	notify *notifier
	// probeEvery and deadAfter bound the deadlock detection.
	probeEvery, deadAfter time.Duration
}

func newSupervisor(a *App) *supervisor {
	return &supervisor{a: a, notify: newNotifier(), probeEvery: 5 * time.Second, deadAfter: 30 * time.Second}
}

// restartRequest is the supervisor's verdict: Run restarts the process
// (restartNow) with this reason.
type restartRequest struct{ why string }

func (r restartRequest) Error() string { return "restart: " + r.why }

func (s *supervisor) run(ctx context.Context) error {
	a := s.a
	s.notify.Ready()
	defer s.notify.Stopping()
	every := s.probeEvery
	if wd := s.notify.WatchdogInterval(); wd > 0 && wd/2 < every {
		every = wd / 2
	}
	t := a.clk.NewTicker(every)
	defer t.Stop()
	lastOK := a.clk.Now()
	sub := a.health.Subscribe()
	defer sub.Close()
	var unreachableSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case snap := <-sub.C():
			s.notify.Status(snap.Line())
			if snap.Overall == health.StateHubUnreachable && snap.Network.State == health.NetworkUp {
				if unreachableSince.IsZero() {
					unreachableSince = snap.At
				}
			} else {
				unreachableSince = time.Time{}
			}
		case <-t.Chan():
			now := a.clk.Now()
			if err := s.probe(ctx); err != nil {
				if now.Sub(lastOK) > s.deadAfter {
					return restartRequest{fmt.Sprintf("no answer from %v for %v", err, now.Sub(lastOK).Round(time.Second))}
				}
				continue // no watchdog feed while a probe fails
			}
			lastOK = now
			s.notify.Watchdog()
			if !unreachableSince.IsZero() && now.Sub(unreachableSince) > a.cfg.Stuck {
				return restartRequest{fmt.Sprintf("hub unreachable for %v with the network up", now.Sub(unreachableSince).Round(time.Second))}
			}
		}
	}
}

// probe checks that each owner goroutine still runs its loop.
func (s *supervisor) probe(ctx context.Context) error {
	ctx, cancel := clockwork.WithTimeout(ctx, s.a.clk, 5*time.Second)
	defer cancel()
	// A probe fails when ctx ran out, asked without blocking: on a fake
	// clock, clockwork's context blocks in Err until it is done
	// (jonboulle/clockwork#100).
	expired := func() bool {
		select {
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
	// Before the first login the socket manager does not run: nothing to
	// ask, and waiting for a technician is not being stuck.
	if s.a.deviceRunning.Load() {
		if err := s.a.device.Client().Ping(ctx); err != nil && expired() {
			return fmt.Errorf("socket manager")
		}
	}
	if err := s.a.peer.Ping(ctx); err != nil && expired() {
		return fmt.Errorf("peer session")
	}
	// The appliance's own loop: a probe is an event like any other.
	done := make(chan struct{})
	if s.a.q.post(evPing{done}) {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("appliance loop")
		}
	}
	return nil
}
