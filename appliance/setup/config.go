package setup

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/benbjohnson/clock"

	"tether/appliance/health"
	"tether/gpio"
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
	// TLS, if set, makes Run serve HTTPS; cookies are then marked Secure.
	TLS *tls.Config

	// SessionIdle ends a page session after this long without a request
	// (default 30 min); SessionMax ends it regardless (default 12 h).
	SessionIdle, SessionMax time.Duration
	// MaxFailures failed logins from one address within FailureWindow lock
	// that address out until the oldest failure is FailureWindow old
	// (defaults 5 and 15 min); GlobalMaxFailures bounds all addresses
	// together (default 30), against guessing from many addresses.
	MaxFailures, GlobalMaxFailures int
	FailureWindow                  time.Duration
	// LEDPoll is how often LEDs are polled for the page (default 100 ms,
	// enough for the 4 Hz fast blink).
	LEDPoll time.Duration
	// EventPoll is how often the event log is checked for new events
	// (default 2 s).
	EventPoll time.Duration

	// Clock drives sessions, the rate limiter and polling; nil means real.
	Clock clock.Clock
	// Logger; nil means slog.Default(). component=setup is added. Nothing
	// the page logs contains a password or a token.
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultAddr              = ":8080"
	DefaultSessionIdle       = 30 * time.Minute
	DefaultSessionMax        = 12 * time.Hour
	DefaultMaxFailures       = 5
	DefaultGlobalMaxFailures = 30
	DefaultFailureWindow     = 15 * time.Minute
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
	case c.SessionIdle < 0 || c.SessionMax < 0 || c.FailureWindow < 0 || c.LEDPoll < 0 || c.EventPoll < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.MaxFailures < 0 || c.GlobalMaxFailures < 0:
		return fmt.Errorf("%w: negative failure limit", ErrConfig)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionIdle, DefaultSessionIdle)
	def(&c.SessionMax, DefaultSessionMax)
	def(&c.FailureWindow, DefaultFailureWindow)
	def(&c.LEDPoll, DefaultLEDPoll)
	def(&c.EventPoll, DefaultEventPoll)
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.GlobalMaxFailures == 0 {
		c.GlobalMaxFailures = DefaultGlobalMaxFailures
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Clock == nil {
		c.Clock = clock.New()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
