package appliance

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/pion/webrtc/v4"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/board"
	"tether/internal/version"
	"tether/media"
	"tether/media/swenc"
	"tether/signaling"
	"tether/signaling/netwatch"
	"tether/signaling/socketio"
	"tether/store"
)

// ErrStuck means the supervisor found no progress and the process must be
// restarted by its init system (the seed's "page reload").
var ErrStuck = errors.New("appliance: stuck; restarting")

// Media is what the appliance needs of the media pipeline (media.Pipeline).
type Media interface {
	Run(ctx context.Context) error
	Tracks() []webrtc.TrackLocal
	RequestKeyframe()
	SetBitrate(bps int)
	Status() media.Status
}

// Deps are the parts tests and the demo replace. Zero values build the real
// ones from the configuration.
type Deps struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// Store, when set, is used instead of opening Config.DataPath.
	Store *store.Store
	// Media replaces the pipeline built from the configuration.
	Media Media
	// Peer tweaks (tests on loopback).
	PeerConfig func(*PeerConfigT)
	// Socket tweaks (tests).
	DeviceConfig func(*signaling.DeviceConfig)
	// Extra components run beside the core (setup page, console, LEDs,
	// metrics); each gets the App once it is built.
	Extras []func(*App) Component
	// WithoutSoftwareEncoders makes the appliance act as a build with cgo
	// off (no openh264, no libopus), so the start-up fault is tested in
	// the normal build. A cgo-off build is that way regardless.
	WithoutSoftwareEncoders bool
}

// PeerConfigT is the WebRTC layer's configuration, for Deps.PeerConfig.
type PeerConfigT = peer.Config

// Component is a long-lived part with the house's Run contract.
type Component interface {
	Run(ctx context.Context) error
}

// ComponentFunc adapts a function.
type ComponentFunc func(ctx context.Context) error

// Run calls f.
func (f ComponentFunc) Run(ctx context.Context) error { return f(ctx) }

// App is the running appliance.
type App struct {
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger
	Store  *store.Store
	Health *health.Tracker
	Media  Media
	Peer   *peer.Peer
	Device *signaling.Device

	roots *x509.CertPool
	net   *netwatch.Watcher
	// netUp ticks when the kernel reports a link, address or route coming
	// up, so health leaves "no-network" at once, not at the next poll.
	netUp <-chan struct{}

	mu        sync.Mutex // guards session, customer, peerState
	session   store.Session
	customer  string     // userId in the call
	peerState peer.State // the latest transition (Stats may lag behind it)

	ledTest func() // the front panel's self-test, when there is one

	faults faultSet // start-up faults (fault.go)

	// deviceRunning is set once the socket manager runs (after the first
	// login); the supervisor probes it only then.
	deviceRunning atomic.Bool

	login   chan struct{} // a new session was stored
	restart chan string   // a restart was asked for (console, setup page)
	deps    Deps
}

// New builds the appliance from a resolved configuration.
func New(cfg Config, deps Deps) (*App, error) {
	if deps.Clock == nil {
		deps.Clock = clock.New()
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	a := &App{
		cfg: cfg, clk: deps.Clock, log: deps.Logger.With("component", "appliance"),
		login: make(chan struct{}, 1), restart: make(chan string, 1), deps: deps,
	}
	var err error
	if a.roots, err = loadCA(cfg.CAFile); err != nil {
		return nil, err
	}
	a.Health, err = health.New(health.Config{Clock: a.clk, Logger: deps.Logger})
	if err != nil {
		return nil, err
	}
	a.Store = deps.Store
	if a.Store == nil {
		if a.Store, err = a.openStoreOrFault(cfg.DataPath, deps.Logger); err != nil {
			return nil, err
		}
	}
	if ok, why := a.Store.Recovered(); ok {
		a.log.Error("state file was unreadable and has been moved aside; starting with defaults", "detail", why)
	}
	a.session, _ = a.Store.Session()

	sw := swenc.Available && !deps.WithoutSoftwareEncoders
	if why := buildFault(cfg.Profile, sw); why != "" {
		a.setFault(faultBuild, why)
	}
	a.Media = deps.Media
	if a.Media == nil {
		// Device changes reach health (and the LEDs) at once, not at the
		// next 2 s feed.
		onChange := func(s media.Status) { a.Health.ReportMedia(health.FromMedia(s)) }
		a.Media, err = newPipeline(cfg, sw, onChange, deps.Logger, a.clk)
		if err != nil {
			return nil, err
		}
	}

	pc := peer.Config{
		Tracks:            a.Media.Tracks(),
		Signaller:         peer.SignallerFunc(a.sendSignal),
		KeyframeRequester: a.Media.RequestKeyframe,
		OnStateChange:     a.onPeerState,
		Clock:             a.clk,
		Logger:            deps.Logger,
	}
	if deps.PeerConfig != nil {
		deps.PeerConfig(&pc)
	}
	a.Peer, err = peer.New(pc)
	if err != nil {
		return nil, err
	}

	a.net = netwatch.New()
	a.net.Logger = deps.Logger
	a.netUp = a.net.Subscribe()
	ls, _ := a.Store.LinkState()
	dc := signaling.DeviceConfig{
		HubURL:         a.hubURL(),
		CurrentHubURL:  a.hubURL,
		Token:          a.token,
		RoomID:         cfg.RoomID,
		RootCAs:        a.roots,
		Preferred:      string(ls.Transport),
		NetworkChanged: a.net.C(),
		Status:         a.deviceStatus,
		OnSocketStatus: a.onSocketStatus,
		OnSocketEvent:  a.onSocketEvent,
		Handlers: signaling.Handlers{
			Verified:      a.onVerified,
			Joined:        a.onJoined,
			Reconnected:   func(bool) { a.Peer.SocketReconnected() },
			UserJoined:    a.onUserJoined,
			UserLeft:      a.onUserLeft,
			CallEnded:     a.onCallEnded,
			Signal:        func(s signaling.Signal) { a.Peer.HandleSignal(s.From, toPeerSignal(s)) },
			SessionExpire: a.onSessionExpired,
		},
		Clock:  a.clk,
		Logger: deps.Logger,
	}
	if deps.DeviceConfig != nil {
		deps.DeviceConfig(&dc)
	}
	if dc.HubURL == "" {
		dc.HubURL = "http://hub.invalid" // replaced at login; the device waits for one
	}
	a.Device, err = signaling.NewDevice(dc)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// buildFault says what a build without software encoders (sw false: cgo
// off, see media/swenc) cannot do on this board, "" when nothing. Audio is
// always Opus in software; video needs openh264 on boards without an H.264
// block (Pi 5, generic, sim). Either is a fault a person must fix by
// installing the right build, not a state to recover from (issue 11).
func buildFault(p board.Profile, sw bool) string {
	if sw {
		return ""
	}
	why := "built without software encoders (CGO_ENABLED=0): no Opus, so no audio"
	if p.Encoder.Software {
		why += "; board " + p.Name + " has no H.264 encoder block and needs openh264, so no video"
	}
	return why
}

// hubURL is the hub that issued the stored session, else the configured
// one. A token is valid only at the hub that issued it: after a login at
// another hub (setup page, `tetherd login`) the device connects there, and
// a device provisioned only through the setup page connects at all.
func (a *App) hubURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.session.Token != "" && a.session.HubURL != "" {
		return a.session.HubURL
	}
	return a.cfg.HubURL
}

func (a *App) token() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.session.Token
}

func (a *App) haveSession() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.session.Token != "" && !a.session.Expired(a.clk.Now())
}

// Login performs the hub login with a username and password (the setup
// page and `tetherd login` use it), stores the session — never the
// password — and resumes the socket at once.
func (a *App) Login(ctx context.Context, hubURL, user, password string) (store.Session, error) {
	if hubURL == "" {
		hubURL = a.hubURL()
	}
	if hubURL == "" {
		return store.Session{}, fmt.Errorf("login: no hub URL configured")
	}
	r, err := Login(ctx, hubURL, user, password, a.roots)
	if err != nil {
		return store.Session{}, err
	}
	sess := store.Session{Token: r.Token, ExpiresAt: r.ExpiresAt, DeviceID: r.DeviceID, RoomID: r.RoomID, HubURL: hubURL}
	if err := a.Store.SetSession(sess); err != nil {
		return store.Session{}, fmt.Errorf("login: store session: %w", err)
	}
	a.mu.Lock()
	a.session = sess
	a.mu.Unlock()
	a.event("appliance", "login", "logged in", "user "+user)
	select {
	case a.login <- struct{}{}:
	default:
	}
	return sess, nil
}

// RequestRestart asks for a clean self-restart (console, setup page).
func (a *App) RequestRestart(reason string) {
	select {
	case a.restart <- reason:
	default:
	}
}

// Customer is the userId in the call, "" when none.
func (a *App) Customer() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.customer
}

// EndCall ends the current call (the front-panel button).
func (a *App) EndCall(ctx context.Context) {
	if c := a.Customer(); c != "" {
		if err := a.Device.EndCall(ctx, c, "ended_by_counter"); err != nil {
			a.log.Warn("end call", "err", err)
		}
		a.Peer.CallEnded(c)
	}
}

// Run runs the appliance until ctx ends or it must restart (ErrStuck).
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, c Component) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("component ended", "name", name, "err", err)
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
		if a.deps.Store == nil {
			a.Store.Close()
		}
	}()

	a.event("appliance", "boot", "starting", a.cfg.Profile.Name)
	// Seed step 3 comes first here: the camera and mic open once at boot
	// and stay open; the peer layer prepares its standby connection.
	start("media", a.Media)
	start("peer", a.Peer)
	start("netwatch", ComponentFunc(a.net.Run))
	start("health-feed", ComponentFunc(a.feedHealth))
	for _, x := range a.deps.Extras {
		if c := x(a); c != nil {
			start(fmt.Sprintf("%T", c), c)
		}
	}
	if a.deps.Store == nil && a.cfg.DataPath != "" {
		// Whoever holds the state file answers for it.
		start("control", a.controlServer(ControlSocket(a.cfg.DataPath)))
	}
	a.Health.SetBooting(false)

	// Seed steps 1, 2, 4–7: the socket (endless), verify and join in its
	// connect hook, the peer answers room events, keep-alive in the
	// device. Without a session the device waits for a login.
	select {
	case <-a.login: // a login before Run (the demo's) is the stored session
	default:
	}
	runDevice := func() {
		a.deviceRunning.Store(true)
		start("socket", a.Device)
	}
	if a.haveSession() && a.hubURL() != "" {
		runDevice()
	} else {
		a.loginNeeded("no stored session")
	}
	sup := newSupervisor(a)
	supErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); supErr <- sup.run(ctx) }()

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case err := <-supErr:
			return err
		case <-a.login:
			if !a.deviceRunning.Load() {
				runDevice()
			} else {
				// A new identity: verify and join afresh, never
				// recover the old session (issue 11).
				a.Device.Relogin()
			}
		case why := <-a.restart:
			return a.restartNow(ctx, why)
		}
	}
}

// restartNow reports the restart, waits 3 s (the seed's reload delay) and
// returns ErrStuck so main exits non-zero and the init system starts a
// fresh process.
func (a *App) restartNow(ctx context.Context, why string) error {
	a.log.Warn("restarting", "reason", why)
	a.Health.SetRestarting(why)
	a.event("appliance", "running", "restarting", why)
	select {
	case <-a.clk.After(3 * time.Second):
	case <-ctx.Done():
	}
	return fmt.Errorf("%w: %s", ErrStuck, why)
}

func (a *App) loginNeeded(why string) {
	a.log.Warn("login needed", "reason", why)
	a.Health.ReportSocket(health.SocketStatus{State: health.SocketSessionExpired, LastError: why})
}

// ---- signalling ↔ peer ----

func (a *App) sendSignal(ctx context.Context, to string, s peer.Signal) error {
	return a.Device.SendSignal(ctx, fromPeerSignal(to, s))
}

func (a *App) onVerified(v signaling.VerifyReply) {
	a.Peer.SetICEServers(toICEServers(v.ICEServers))
	a.mu.Lock()
	sess := a.session
	a.mu.Unlock()
	// Sliding expiry: keep the stored session's expiry current.
	if !v.ExpiresAt.IsZero() && (!v.ExpiresAt.Equal(sess.ExpiresAt) || sess.DeviceID != v.DeviceID) {
		sess.ExpiresAt, sess.DeviceID = v.ExpiresAt, v.DeviceID
		if sess.RoomID == "" {
			sess.RoomID = v.RoomID
		}
		if err := a.Store.SetSession(sess); err != nil {
			a.log.Warn("store session", "err", err)
		}
		a.mu.Lock()
		a.session = sess
		a.mu.Unlock()
	}
}

func (a *App) onJoined(j signaling.JoinReply) {
	// The join's members are the room as it is now. A customer we were in
	// a call with who is not among them is gone: it left during our
	// outage, or this is another room after a login as another account.
	// Its peer state is dropped before anything of the new room starts.
	if c := a.Customer(); c != "" && !slices.ContainsFunc(j.Members, func(m signaling.Member) bool { return m.UserID == c }) {
		a.endCall(c, "not in the room after (re)join")
	}
	// After a reconnect a customer may already be in the room (waiting
	// through our outage): treat it as joining now.
	for _, m := range j.Members {
		if m.Role == "customer" {
			a.startCall(m.UserID)
			return
		}
	}
}

func (a *App) onUserJoined(e signaling.RoomEvent) {
	if e.Role == "customer" {
		a.startCall(e.UserID)
	}
}

func (a *App) startCall(user string) {
	a.mu.Lock()
	prev := a.customer
	a.customer = user
	a.mu.Unlock()
	if prev == user {
		return
	}
	if prev != "" {
		a.Peer.CallEnded(prev)
	}
	a.countStore(store.CounterCustomerChange, user)
	a.event("call", prev, user, "customer joined")
	a.Peer.UserJoined(user)
	a.Device.StatusChanged()
}

func (a *App) onUserLeft(e signaling.RoomEvent) { a.endCall(e.UserID, "left: "+e.Reason) }

func (a *App) onCallEnded(e signaling.RoomEvent) { a.endCall(e.UserID, "ended: "+e.Reason) }

// endCall is the seed's customer change, first half: drop the customer's
// peer, keep camera, mic and tracks, wait for the next customer.
func (a *App) endCall(user, why string) {
	a.mu.Lock()
	if user == "" || user != a.customer {
		a.mu.Unlock()
		return
	}
	a.customer = ""
	a.mu.Unlock()
	a.event("call", user, "", why)
	a.Peer.CallEnded(user)
	a.Device.StatusChanged()
}

func (a *App) onSessionExpired() {
	a.event("socket", "connected", "session_expired", "hub says the session expired")
	a.loginNeeded("session expired")
}

// ---- health and state ----

func (a *App) onSocketStatus(s socketio.Status) {
	a.Health.ReportSocket(health.SocketStatus{
		State: socketState(s.State), Transport: s.Transport, Attempt: s.Attempt,
		LastError: s.LastError, RTT: a.Device.RTT(),
	})
	if s.State == socketio.Connected && s.Transport != "" {
		if err := a.Store.RecordTransport(store.Transport(s.Transport)); err != nil {
			a.log.Debug("record transport", "err", err)
		}
	}
}

func (a *App) onSocketEvent(e socketio.ManagerEvent) {
	switch e.Kind {
	case socketio.EventReconnect:
		a.countStore(store.CounterSocketReconnect, e.Transport)
	case socketio.EventDisconnect:
		msg := ""
		if e.Err != nil {
			msg = e.Err.Error()
		}
		a.event("socket", "connected", "disconnected", msg)
		if msg != "" {
			_ = a.Store.RecordError("socket", msg)
		}
	case socketio.EventConnect:
		a.event("socket", "connecting", "connected", e.Transport)
	}
}

func (a *App) onPeerState(from, to peer.State) {
	a.mu.Lock()
	a.peerState = to
	a.mu.Unlock()
	a.event("peer", from.String(), to.String(), "")
	if to == peer.Restarting {
		a.countStore(store.CounterICERestart, from.String())
	}
	a.reportPeer()
	a.Device.StatusChanged()
}

// peerStats is the peer's snapshot with the state of the latest
// transition, which the callback sees before the snapshot does.
func (a *App) peerStats() peer.Stats {
	st := a.Peer.Stats()
	a.mu.Lock()
	st.State = a.peerState
	a.mu.Unlock()
	return st
}

func (a *App) reportPeer() {
	st := a.peerStats()
	a.Health.ReportPeer(health.PeerStatus{
		State: peerState(st.State), Path: peerPath(st.Path), RTT: st.RTT,
		Loss: st.FractionLost, MissedHeartbeats: st.MissedBeats,
	})
	if st.State == peer.Connected && st.Path != peer.PathNone {
		_ = a.Store.RecordICEPath(store.ICEPath(st.Path))
	}
}

func (a *App) countStore(c store.Counter, detail string) {
	if _, err := a.Store.IncrCounter(c, detail); err != nil {
		a.log.Debug("counter", "err", err)
	}
}

func (a *App) event(component, from, to, detail string) {
	if err := a.Store.AppendEvent(store.Event{Component: component, From: from, To: to, Detail: detail}); err != nil {
		a.log.Debug("event log", "err", err)
	}
}

// feedHealth reports media and network facts every 2 s, and at once when
// the network comes back, and peer stats (RTT, loss, path) between peer
// transitions.
func (a *App) feedHealth(ctx context.Context) error {
	t := a.clk.Ticker(2 * time.Second)
	defer t.Stop()
	for {
		a.Health.ReportMedia(health.FromMedia(a.Media.Status()))
		a.Health.ReportNetwork(a.networkStatus())
		a.reportPeer()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.netUp:
		}
	}
}

// networkStatus says whether any non-loopback interface is up with an
// address (or the hub is on loopback, as in the demo).
func (a *App) networkStatus() health.NetworkStatus {
	if u, err := url.Parse(a.hubURL()); err == nil {
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return health.NetworkStatus{State: health.NetworkUp, Detail: "hub on loopback"}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return health.NetworkStatus{State: health.NetworkUnknown, Detail: err.Error()}
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
				return health.NetworkStatus{State: health.NetworkUp, Detail: ifc.Name + " " + ipn.String()}
			}
		}
	}
	return health.NetworkStatus{State: health.NetworkDown, Detail: "no interface with an address"}
}

// deviceStatus is the device:status payload (room protocol v1).
func (a *App) deviceStatus() any {
	snap := a.Health.Snapshot()
	ps := a.peerStats()
	ss := a.Device.Client().Status()
	return map[string]any{
		"socket": map[string]any{
			"state": ss.State.String(), "transport": ss.Transport, "reconnects": ss.Reconnects,
			"attempts": ss.Attempts, "lastError": ss.LastError,
		},
		"peer": map[string]any{
			"state": ps.State.String(), "path": string(ps.Path), "restarts": ps.Restarts,
			"customers": ps.Customers, "bitrateBps": ps.BitrateBps, "framesSent": ps.FramesSent,
		},
		// Each media device by name (issue 11): a missing camera shows
		// here and in the dashboard, not only as the overall state.
		"media": map[string]any{
			"camera": snap.Media.Camera.String(), "mic": snap.Media.Mic.String(),
			"encoder": snap.Media.EncoderState(), "lastError": snap.Media.LastError(),
		},
		"overall": snap.Overall.String(),
		"reason":  snap.Reason,
		"rttMs":   a.Device.RTT().Milliseconds(),
		"uptimeS": int64(snap.Uptime.Seconds()),
		"version": version.Version,
	}
}
