package setup

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/appliance/health"
	"tether/gpio"
	"tether/internal/login"
	"tether/store"
)

// Health is the tracker the page subscribes to (*health.Tracker).
type Health interface {
	Subscribe() *health.Subscription
	Snapshot() health.Snapshot
}

// Store is the persistent state the page reads and writes (*store.Store).
// The setup password is kept only as the store's argon2id hash.
type Store interface {
	HasSetupPassword() (bool, error)
	SetSetupPassword(pw string) error
	CheckSetupPassword(pw string) (bool, error)
	ClearSetupPassword() error
	Settings() (store.Settings, error)
	UpdateSettings(fn func(*store.Settings) error) error
	Session() (store.Session, error)
	Events(n int) ([]store.Event, error)
	AppendEvent(e store.Event) error
}

// LoginFunc performs the hub login (POST {hubURL}/api/login, protocol.md
// "Login") and stores the resulting session; it never stores pass. It may
// wrap ErrInvalidCredentials for a 401. Its error text is shown on the page.
type LoginFunc func(ctx context.Context, hubURL, user, pass string) (store.Session, error)

// Preview serves the local preview: one JPEG of the current camera picture.
type Preview interface {
	JPEG(ctx context.Context) ([]byte, error)
}

// Devices are the capture devices the page offers; an empty list lets the
// user type a device name instead.
type Devices struct {
	Cameras     []string `json:"cameras"`
	Microphones []string `json:"microphones"`
}

// Config configures a Server. Health, Store and Login are required; every
// other hook is optional and its control is hidden (or says "unavailable")
// when nil. Hooks run on the request's goroutine and must return promptly:
// they post a request to the goroutine that owns the work (house style
// point 3), they do not do it.
type Config struct {
	Health Health
	Store  Store
	Login  LoginFunc

	// OnLogin is called after a successful hub login, to resume the socket
	// without a reboot.
	OnLogin func()
	// OnSettings is called with the stored settings after they were saved.
	OnSettings func(store.Settings)
	// Current returns the settings in force after configuration layering,
	// shown as the form's values; nil shows the stored settings.
	Current func() store.Settings
	// Devices lists cameras and microphones for the form.
	Devices func() Devices
	// LEDTest starts the LED self-test (gpio.Player.SelfTest).
	LEDTest func()
	// Restart asks the runtime for a clean self-restart.
	Restart func(reason string)
	// LEDs returns the front-panel LEDs to draw (the sim board's
	// gpio.Terminal.LEDs); they are polled every LEDPoll.
	LEDs func() []gpio.LEDView
	// Preview serves /api/preview.jpg; nil shows "preview unavailable".
	Preview Preview

	// Listener is served by Run; nil means Run listens on Addr.
	Listener net.Listener
	// Addr is the listen address when Listener is nil; "" means DefaultAddr.
	Addr string
	// TLS, if set, makes Run serve HTTPS; plain HTTP on the same port is
	// answered with a 308 to https://, and cookies are marked Secure. The
	// page shows the SHA-256 fingerprint of its first certificate.
	TLS *tls.Config
	// Hostname is the appliance's configured name: Host headers naming it,
	// hostname.local (mDNS), localhost or one of the interface addresses
	// are served; any other Host gets 421 (DNS rebinding). "" means
	// os.Hostname().
	Hostname string
	// MaxConnsPerAddr caps the connections one client address holds open
	// (internal/netlimit, shared with the hub; default 16: a browser opens
	// 6 per origin, a few tabs more). Over it a connection is closed at once.
	MaxConnsPerAddr int
	// ReadHeaderTimeout bounds the wait for a request's headers (and a TLS
	// handshake), ReadTimeout the whole request with its body, IdleTimeout
	// a keep-alive connection between requests (defaults 5 s, 10 s, 30 s):
	// slow or idle clients cannot hold connections (issue 12 item 8).
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration

	// SessionIdle ends a page session after this long without a request
	// (default 30 min); SessionMax ends it regardless (default 12 h).
	SessionIdle, SessionMax time.Duration
	// Limiter throttles wrong setup passwords per client address with
	// growing delays (internal/login; Free defaults to 5). There is no
	// global lockout: guessing from other addresses never locks the owner
	// out (issue 12 item 4). Its Clock defaults to Clock.
	Limiter login.LimiterConfig
	// LEDPoll is how often LEDs are polled for the page (default 100 ms,
	// enough for the 4 Hz fast blink).
	LEDPoll time.Duration
	// EventPoll is how often the event log is checked for new events
	// (default 2 s).
	EventPoll time.Duration

	// Clock drives sessions, the rate limiter and polling; nil means real.
	Clock clockwork.Clock
	// Logger; nil means slog.Default(). component=setup is added. Nothing
	// the page logs contains a password or a token.
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultAddr              = ":8080"
	DefaultSessionIdle       = 30 * time.Minute
	DefaultSessionMax        = 12 * time.Hour
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxConnsPerAddr   = 16
	DefaultLEDPoll           = 100 * time.Millisecond
	DefaultEventPoll         = 2 * time.Second
)

func (c *Config) validate() error {
	switch {
	case c.Health == nil:
		return fmt.Errorf("%w: Health is required", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Login == nil:
		return fmt.Errorf("%w: Login is required", ErrConfig)
	case c.SessionIdle < 0 || c.SessionMax < 0 || c.LEDPoll < 0 || c.EventPoll < 0 ||
		c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.Limiter.Free < 0 || c.Limiter.Base < 0 || c.Limiter.Max < 0:
		return fmt.Errorf("%w: negative login limit", ErrConfig)
	case c.MaxConnsPerAddr < 0:
		return fmt.Errorf("%w: negative connection cap", ErrConfig)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionIdle, DefaultSessionIdle)
	def(&c.SessionMax, DefaultSessionMax)
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.LEDPoll, DefaultLEDPoll)
	def(&c.EventPoll, DefaultEventPoll)
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Limiter.Clock == nil {
		c.Limiter.Clock = c.Clock
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
