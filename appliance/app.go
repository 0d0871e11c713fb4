package appliance

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/webrtc/v4"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/board"
	"tether/media"
	"tether/media/aec"
	"tether/media/display"
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

// callPeer is what the appliance needs of the WebRTC layer (peer.Peer),
// which owns the call: the appliance only forwards room events to it and
// reads its published stats.
type callPeer interface {
	Run(ctx context.Context) error
	Ping(ctx context.Context) error
	Stats() peer.Stats
	UserJoined(userID string)
	CallEnded(userID string)
	HandleSignal(from string, s peer.Signal)
	SocketReconnected()
	SetICEServers(servers []webrtc.ICEServer)
}

// roomDevice is what the appliance needs of the room protocol's socket
// (signaling.Device).
type roomDevice interface {
	Run(ctx context.Context) error
	Client() *socketio.Client // Status and Ping
	RTT() time.Duration
	Relogin()
	EndCall(ctx context.Context, userID, reason string) error
	SendSignal(ctx context.Context, s signaling.Signal) error
	StatusChanged()
}

// Deps are the parts tests and the demo replace. Zero values build the real
// ones from the configuration.
type Deps struct {
	Clock  clockwork.Clock
	Logger *slog.Logger
	// Store, when set, is used instead of opening Config.DataPath.
	Store *store.Store
	// Media replaces the pipeline built from the configuration.
	Media Media
	// PeerConfig tweaks the WebRTC layer's configuration (loopback
	// candidates for the demo and tests).
	PeerConfig func(*peer.Config)
	// DeviceConfig tweaks the room protocol's configuration (tests).
	DeviceConfig func(*signaling.DeviceConfig)
	// Extra components run beside the core (setup page, console, LEDs,
	// metrics); each gets the App once it is built.
	Extras []func(*App) Component
	// OpenSpeaker, when set, replaces the configured speaker's device
	// (even "speaker none") under the real player: tests' recording and
	// failing speakers.
	OpenSpeaker func() (media.AudioSink, error)
	// OpenScreen, when set, replaces the configured display's output
	// (even "display none") under the real display: tests' in-memory
	// screens.
	OpenScreen func() (display.Screen, error)
	// WithoutSoftwareEncoders makes the appliance act as a build with cgo
	// off (no openh264, no libopus), so the start-up fault is tested in
	// the normal build. A cgo-off build is that way regardless.
	WithoutSoftwareEncoders bool
}

// Component is a long-lived part with the house's Run contract.
type Component interface {
	Run(ctx context.Context) error
}

// ComponentFunc adapts a function.
type ComponentFunc func(ctx context.Context) error

// Run calls f.
func (f ComponentFunc) Run(ctx context.Context) error { return f(ctx) }

// App is the running appliance. Its state is owned by the Run goroutine
// (run.go), which the other components feed with typed events (events.go);
// the components themselves are unexported and reached by the narrow views
// below. Files: app.go (building it), run.go (the owner loop and its
// queue), events.go (what each event does: customer change, login, session
// expiry), record.go (the one place that writes the store), report.go
// (health feed, device:status), supervisor.go (self-restart), leds.go,
// speaker.go (the customer's tracks to the speaker and display),
// extras.go, metrics.go, control.go, config.go, cli.go.
type App struct {
	cfg  Config
	clk  clockwork.Clock
	log  *slog.Logger
	deps Deps

	// The components; set in New, never replaced.
	store  *store.Store
	health *health.Tracker
	media  Media
	peer   callPeer
	device roomDevice
	net    *netwatch.Watcher
	roots  *x509.CertPool
	// The customer's media out (issue 15; speaker.go): the speaker's
	// player, nil with "speaker none"; the display's sink, nil until the
	// display is built (the hook: customer video goes to it, else it is
	// drained).
	speaker speakerOut
	screen  screenOut
	echo    *aec.Canceller // nil: none; closed when Run ends
	// netUp ticks when the kernel reports a link, address or route coming
	// up, so health leaves "no-network" at once, not at the next poll.
	netUp <-chan struct{}

	// q carries every event to Run (run.go).
	q queue
	// settingsSaved asks the reloader (reload.go) to re-read the
	// configuration: the setup page saved settings. One pending ask.
	settingsSaved chan struct{}

	// session is published by its owner, Run (before Run: Login, under
	// startMu), for the socket's connect hook and the setup page.
	smu     sync.Mutex
	session store.Session

	// startMu orders a Login before Run against Run's start (the demo
	// logs in before it runs the appliance); started is set under it.
	startMu sync.Mutex
	started bool

	faults faultSet // start-up faults (fault.go)

	// deviceRunning is set once the socket manager runs (after the first
	// login); the supervisor probes it only then.
	deviceRunning atomic.Bool

	// Owned by the Run goroutine (and by New and a Login before Run).
	rec         recorder // the store's one writer (record.go)
	startDevice func()   // runs the socket once; nil before Run
	endCalls    sync.WaitGroup
	drains      sync.WaitGroup // customer tracks nobody plays (speaker.go)
	callState   peer.State     // the WebRTC layer's latest transition
	// What the screen's status text is derived from (display.go).
	sockState     socketio.State
	everConnected bool
	needLogin     bool
	screenText    string // the text last sent

	// ledTest is the front panel's self-test, when there is one (set by
	// the panel extra, called by the setup page).
	ledTest atomic.Pointer[func()]
}

// New builds the appliance from a resolved configuration.
func New(cfg Config, deps Deps) (*App, error) {
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	a := &App{cfg: cfg, clk: deps.Clock, log: deps.Logger.With("component", "appliance"), deps: deps}
	a.q.init()
	a.settingsSaved = make(chan struct{}, 1)
	var err error
	if a.roots, err = loadCA(cfg.CAFile); err != nil {
		return nil, err
	}
	if a.health, err = health.New(health.Config{Clock: a.clk, Logger: deps.Logger}); err != nil {
		return nil, err
	}
	if err := a.openStore(); err != nil {
		return nil, err
	}
	a.rec = newRecorder(a.store, a.log)
	if err := a.newMedia(); err != nil {
		return nil, err
	}
	if err := a.newPeer(); err != nil {
		return nil, err
	}
	if err := a.newDevice(); err != nil {
		return nil, err
	}
	return a, nil
}

// openStore opens the state file (or takes Deps.Store) and reads the
// stored session.
func (a *App) openStore() error {
	a.store = a.deps.Store
	if a.store == nil {
		var err error
		if a.store, err = a.openStoreOrFault(a.cfg.DataPath, a.deps.Logger); err != nil {
			return err
		}
	}
	if ok, why := a.store.Recovered(); ok {
		a.log.Error("state file was unreadable and has been moved aside; starting with defaults", "detail", why)
	}
	a.session, _ = a.store.Session()
	return nil
}

// newMedia builds the pipeline (or takes Deps.Media), reporting a build
// that cannot serve this board as a fault.
func (a *App) newMedia() error {
	sw := swenc.Available && !a.deps.WithoutSoftwareEncoders
	if why := buildFault(a.cfg.Profile, sw); why != "" {
		a.setFault(faultBuild, why)
	}
	// The echo canceller takes the speaker's output as its reference and
	// cleans the microphone's input; both sides share it (issue 15 §3).
	a.echo = newEcho(a.cfg, a.deps.Logger)
	if err := a.newSpeaker(a.echo); err != nil {
		return err
	}
	preview, err := a.newScreen()
	if err != nil {
		return err
	}
	a.media = a.deps.Media
	if a.media != nil {
		return nil
	}
	// Device changes reach Run (and health, the LEDs) at once, not at the
	// next 2 s feed.
	onChange := func(s media.Status) { a.q.post(evMedia{s}) }
	var ec media.EchoCanceller
	if a.echo != nil {
		ec = a.echo
	}
	a.media, err = newPipeline(a.cfg, sw, ec, preview, onChange, a.deps.Logger, a.clk)
	return err
}

// newPeer builds the WebRTC layer on the media tracks; its transitions
// reach Run as events.
func (a *App) newPeer() error {
	pc := peer.Config{
		Tracks:            a.media.Tracks(),
		Signaller:         peer.SignallerFunc(a.sendSignal),
		KeyframeRequester: a.media.RequestKeyframe,
		OnStateChange:     func(from, to peer.State) { a.q.post(evPeerState{from, to}) },
		OnTrack:           a.onTrack,
		Clock:             a.clk,
		Logger:            a.deps.Logger,
	}
	if a.deps.PeerConfig != nil {
		a.deps.PeerConfig(&pc)
	}
	p, err := peer.New(pc)
	if err != nil {
		return err
	}
	a.peer = p
	return nil
}

// newDevice builds the room protocol's socket. What changes the
// appliance's state reaches Run as events; signals and reconnects go
// straight to the WebRTC layer, which only enqueues them and owns what
// they change.
func (a *App) newDevice() error {
	a.net = netwatch.New()
	a.net.Logger = a.deps.Logger
	a.netUp = a.net.Subscribe()
	ls, _ := a.store.LinkState()
	post := func(ev event) { a.q.post(ev) }
	dc := signaling.DeviceConfig{
		HubURL:         a.hubURL(),
		CurrentHubURL:  a.hubURL,
		Token:          a.token,
		RoomID:         a.cfg.RoomID,
		RootCAs:        a.roots,
		Preferred:      string(ls.Transport),
		NetworkChanged: a.net.C(),
		Status:         a.deviceStatus,
		OnSocketStatus: func(s socketio.Status) { post(evSocketStatus{s}) },
		OnSocketEvent:  func(e socketio.ManagerEvent) { post(evSocketEvent{e}) },
		Handlers: signaling.Handlers{
			Verified:      func(v signaling.VerifyReply) { post(evVerified{v}) },
			Joined:        func(j signaling.JoinReply) { post(evJoined{j}) },
			Reconnected:   func(bool) { a.peer.SocketReconnected() },
			UserJoined:    func(e signaling.RoomEvent) { post(evUserJoined{e}) },
			UserLeft:      func(e signaling.RoomEvent) { post(evCallEnded{e.UserID, "left: " + e.Reason}) },
			CallEnded:     func(e signaling.RoomEvent) { post(evCallEnded{e.UserID, "ended: " + e.Reason}) },
			Signal:        func(s signaling.Signal) { a.peer.HandleSignal(s.From, peer.FromWire(s)) },
			SessionExpire: func() { post(evSessionExpired{}) },
		},
		Clock:  a.clk,
		Logger: a.deps.Logger,
	}
	if a.deps.DeviceConfig != nil {
		a.deps.DeviceConfig(&dc)
	}
	if dc.HubURL == "" {
		dc.HubURL = "http://hub.invalid" // replaced at login; the device waits for one
	}
	d, err := signaling.NewDevice(dc)
	if err != nil {
		return err
	}
	a.device = d
	return nil
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

// Health is the appliance's health tracker, for subscribers (LEDs,
// console, setup page, metrics, tests).
func (a *App) Health() *health.Tracker { return a.health }

// SocketStatus is the socket layer's current status.
func (a *App) SocketStatus() socketio.Status { return a.device.Client().Status() }

// MediaStatus is the media pipeline's current status, with the speaker's
// state merged in (Status.Devices lists it).
func (a *App) MediaStatus() media.Status { return a.withOutputs(a.media.Status()) }

// hubURL is the hub that issued the stored session, else the configured
// one. A token is valid only at the hub that issued it: after a login at
// another hub (setup page, `tetherd login`) the device connects there, and
// a device provisioned only through the setup page connects at all.
func (a *App) hubURL() string {
	s := a.publishedSession()
	if s.Token != "" && s.HubURL != "" {
		return s.HubURL
	}
	return a.cfg.HubURL
}

func (a *App) token() string { return a.publishedSession().Token }

func (a *App) publishedSession() store.Session {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.session
}

func (a *App) publishSession(s store.Session) {
	a.smu.Lock()
	a.session = s
	a.smu.Unlock()
}

// Login performs the hub login with a username and password (the setup
// page and `tetherd login` use it), stores the session — never the
// password — and resumes the socket at once. Once Run runs, the session is
// stored by Run; before, here.
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
	a.startMu.Lock()
	if !a.started {
		// Run reads the stored session when it starts.
		err := a.storeSession(sess, "user "+user)
		a.startMu.Unlock()
		return sess, err
	}
	a.startMu.Unlock()
	done := make(chan error, 1)
	if !a.q.post(evLogin{sess: sess, user: user, done: done}) {
		return store.Session{}, fmt.Errorf("login: the appliance is stopping")
	}
	select {
	case err := <-done:
		return sess, err
	case <-ctx.Done():
		return store.Session{}, ctx.Err()
	case <-a.q.stopped:
		return store.Session{}, fmt.Errorf("login: the appliance is stopping")
	}
}

// RequestRestart asks for a clean self-restart (console, setup page).
func (a *App) RequestRestart(reason string) { a.q.post(evRestart{reason}) }

// EndCall ends the current call (the front-panel button).
func (a *App) EndCall() { a.q.post(evEndCall{}) }

func (a *App) sendSignal(ctx context.Context, to string, s peer.Signal) error {
	return a.device.SendSignal(ctx, s.Wire(to))
}
