package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tether/appliance/health"
	"tether/signaling/socketio"
)

// maxQueued bounds the events waiting for Run. Run handles each in
// microseconds (store writes aside); a queue this long means Run is wedged,
// which the supervisor notices (its probe is an event too).
const maxQueued = 4096

// queue carries events from any goroutine to Run, in order, without ever
// blocking the sender: the socket's dispatch goroutine and the WebRTC
// layer's Run post here and must not wait for the appliance (Run in turn
// calls into them). Modelled on appliance/peer's queue.
type queue struct {
	mu      sync.Mutex
	events  []event
	closed  bool
	dropped int
	notify  chan struct{} // one pending wake-up
	stopped chan struct{} // closed when Run has returned
}

func (q *queue) init() {
	q.notify = make(chan struct{}, 1)
	q.stopped = make(chan struct{})
}

// post enqueues ev; false when Run has ended (the event is dropped) or the
// queue is full.
func (q *queue) post(ev event) bool {
	q.mu.Lock()
	if q.closed || len(q.events) >= maxQueued {
		if !q.closed {
			q.dropped++
		}
		q.mu.Unlock()
		return false
	}
	q.events = append(q.events, ev)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// drain takes every queued event and how many were dropped since the
// last drain.
func (q *queue) drain() ([]event, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs, n := q.events, q.dropped
	q.events, q.dropped = nil, 0
	return evs, n
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed, q.events = true, nil
	q.mu.Unlock()
	close(q.stopped)
}

// Run runs the appliance until ctx ends or it must restart (ErrStuck). It
// starts every component, then owns the appliance's state in one loop:
//
//	q        <- socket (verified, joined, room events, session expiry,
//	            status, connect/disconnect), peer transitions, media
//	            changes, the customer's tracks, speaker changes, volume,
//	            Login, EndCall, RequestRestart, supervisor probes
//	feed     -> every 2 s: media, network and peer stats into health
//	netUp    -> the network came back: feed now
//	errc     <- a component ended with an error: stop
//	supErr   <- the supervisor asks for a restart: stop
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	g := &group{ctx: ctx, log: a.log, errc: make(chan error, 8)}
	defer func() {
		cancel()
		g.wg.Wait()
		a.endCalls.Wait()
		a.drains.Wait()
		if a.echo != nil {
			a.echo.Close() // the pipeline and the player have stopped
		}
		a.q.close()
		if a.deps.Store == nil {
			a.store.Close()
		}
	}()
	a.startMu.Lock()
	a.started = true
	a.startMu.Unlock()
	a.rec.event("appliance", "boot", "starting", a.cfg.Profile.Name)
	a.startComponents(g)
	sup := newSupervisor(a)
	supErr := make(chan error, 1)
	g.wg.Add(1)
	go func() { defer g.wg.Done(); supErr <- sup.run(ctx) }()
	return a.loop(ctx, g.errc, supErr)
}

// group runs components until its ctx ends; the first that fails is
// reported on errc.
type group struct {
	ctx  context.Context
	log  *slog.Logger
	wg   sync.WaitGroup
	errc chan error
}

func (g *group) start(name string, c Component) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := c.Run(g.ctx); err != nil && g.ctx.Err() == nil {
			g.log.Error("component ended", "name", name, "err", err)
			g.errc <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// startComponents is the start-up sequence. Seed step 3 comes first here:
// the camera and mic open once at boot and stay open; the peer layer
// prepares its standby connection. Then seed steps 1, 2, 4–7: the socket
// (endless), verify and join in its connect hook, the peer answers room
// events, keep-alive in the device. Without a session the device waits
// for a login.
func (a *App) startComponents(g *group) {
	g.start("media", a.media)
	if a.speaker != nil {
		g.start("speaker", a.speaker)
	}
	if a.screen != nil {
		g.start("display", a.screen)
	}
	g.start("peer", a.peer)
	g.start("netwatch", ComponentFunc(a.net.Run))
	for _, x := range a.deps.Extras {
		if c := x(a); c != nil {
			g.start(fmt.Sprintf("%T", c), c)
		}
	}
	if a.deps.Store == nil && a.cfg.DataPath != "" {
		// Whoever holds the state file answers for it.
		g.start("control", a.controlServer(ControlSocket(a.cfg.DataPath)))
	}
	a.health.SetBooting(false)
	a.startDevice = func() {
		a.deviceRunning.Store(true)
		g.start("socket", a.device)
	}
	if a.haveSession() && a.hubURL() != "" {
		a.startDevice()
	} else {
		a.loginNeeded("no stored session")
	}
}

// loop is the owner loop: events, the 2 s health feed, the network coming
// back, a failed component, the supervisor's verdict.
func (a *App) loop(ctx context.Context, errc <-chan error, supErr <-chan error) error {
	feed := a.clk.NewTicker(2 * time.Second)
	defer feed.Stop()
	a.feedHealth()
	a.showStatus()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case err := <-supErr:
			var r restartRequest
			if errors.As(err, &r) {
				return a.restartNow(ctx, r.why)
			}
			return err
		case <-feed.Chan():
			a.feedHealth()
		case <-a.netUp:
			a.feedHealth()
		case <-a.q.notify:
			evs, dropped := a.q.drain()
			if dropped > 0 {
				a.log.Error("events dropped: the appliance loop fell behind", "dropped", dropped)
			}
			for _, ev := range evs {
				if why, restart := a.handle(ctx, ev); restart {
					return a.restartNow(ctx, why)
				}
			}
			a.showStatus()
		}
	}
}

// restartNow reports the restart, waits 3 s (the seed's reload delay) and
// returns ErrStuck so main exits non-zero and the init system starts a
// fresh process.
func (a *App) restartNow(ctx context.Context, why string) error {
	a.log.Warn("restarting", "reason", why)
	a.health.SetRestarting(why)
	a.rec.event("appliance", "running", "restarting", why)
	select {
	case <-a.clk.After(3 * time.Second):
	case <-ctx.Done():
	}
	return fmt.Errorf("%w: %s", ErrStuck, why)
}

// loginNeeded shows "login needed" until a login.
func (a *App) loginNeeded(why string) {
	a.log.Warn("login needed", "reason", why)
	a.needLogin = true
	a.health.ReportSocket(health.SocketStatus{State: socketio.SessionExpired, LastError: why})
}
