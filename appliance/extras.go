package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"tether/appliance/console"
	"tether/appliance/setup"
	"tether/gpio"
	"tether/store"
)

// DefaultExtras are the components every tetherd runs beside the core: the
// front panel (LEDs and button), the setup page, the serial console and the
// metrics endpoint. Each only subscribes to the health tracker.
func DefaultExtras(cfg Config, stdin io.Reader, stdout io.Writer) []func(*App) Component {
	term := gpio.NewTerminal(io.Discard, false) // the sim board's LEDs, drawn by the page and console
	var setupSrv *setup.Server
	var con *console.Console
	return []func(*App) Component{
		func(a *App) Component {
			return a.panel(term, func() *setup.Server { return setupSrv }, func() *console.Console { return con })
		},
		func(a *App) Component {
			if cfg.SetupAddr == "" {
				return nil
			}
			s, err := a.SetupServer(cfg.SetupAddr, term, nil)
			if err != nil {
				a.log.Error("setup page disabled", "err", err)
				return nil
			}
			setupSrv = s
			return s
		},
		func(a *App) Component {
			c := a.console(cfg.Console, stdin, stdout, term, func() []string { return SetupLines(setupSrv) })
			if c != nil {
				con = c
				return c
			}
			return nil
		},
		func(a *App) Component {
			if cfg.MetricsAddr == "" {
				return nil
			}
			return a.metricsServer(cfg.MetricsAddr)
		},
	}
}

// panel runs the LEDs from health and the button: a short press ends the
// call, a 10 s hold resets the setup password.
func (a *App) panel(term *gpio.Terminal, setupSrv func() *setup.Server, con func() *console.Console) Component {
	chip, err := gpio.OpenBoardChip(a.cfg.Profile.GPIO, a.clk, term)
	if err != nil {
		a.log.Error("front panel unavailable", "err", err)
		return nil
	}
	if chip == nil {
		return nil
	}
	sub := a.health.Subscribe()
	p, err := gpio.NewPanel(gpio.PanelConfig{
		Chip: chip, Pins: a.cfg.Profile.GPIO, Clock: a.clk, Logger: a.log,
		OnPress: a.EndCall,
		OnHold: func() {
			if s := setupSrv(); s != nil {
				if err := s.ResetPassword(); err != nil {
					a.log.Error("reset setup password", "err", err)
					return
				}
				a.log.Warn("setup password reset by the front-panel button; choose a new one on the setup page")
				if c := con(); c != nil {
					c.PasswordReset()
				}
				a.q.post(evLogEvent{store.Event{Component: "appliance", To: "setup password reset", Detail: "button held 10 s"}})
			}
		},
	})
	if err != nil {
		sub.Close()
		a.log.Error("front panel unavailable", "err", err)
		return nil
	}
	selfTest := p.SelfTest
	a.ledTest.Store(&selfTest)
	return ComponentFunc(func(ctx context.Context) error {
		defer sub.Close()
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); showLEDs(ctx, sub.C(), DefaultLEDScheme(), p) }()
		defer func() { cancel(); <-done }()
		return p.Run(ctx)
	})
}

// SetupServer builds the local setup page on ln (or addr when ln is nil);
// term supplies the sim board's LEDs and may be nil. The page is served
// over TLS with the device's own certificate (made once, kept in the
// store; issue 12 item 9); plain HTTP on the same port redirects.
func (a *App) SetupServer(addr string, term *gpio.Terminal, ln net.Listener) (*setup.Server, error) {
	if term == nil {
		term = gpio.NewTerminal(io.Discard, false)
	}
	hostname, _ := os.Hostname()
	var tlsCfg *tls.Config
	cert, err := setup.DeviceCert(a.store, hostname, setup.InterfaceIPs(), a.clk.Now())
	switch {
	case len(cert.Certificate) == 0:
		return nil, fmt.Errorf("setup page certificate: %w", err)
	case err != nil:
		a.log.Warn("setup page certificate", "err", err)
	}
	tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return setup.New(setup.Config{
		TLS:      tlsCfg,
		Hostname: hostname,
		Health:   a.health,
		Store:    a.store,
		Login: func(ctx context.Context, hubURL, user, pass string) (store.Session, error) {
			s, err := a.Login(ctx, hubURL, user, pass)
			if errors.Is(err, ErrInvalidCredentials) {
				err = fmt.Errorf("%w: %w", setup.ErrInvalidCredentials, err)
			}
			return s, err
		},
		Current: func() store.Settings {
			return store.Settings{HubURL: a.hubURL(), RoomID: a.cfg.RoomID, Camera: a.cfg.Camera, Microphone: a.cfg.Microphone,
				Speaker: a.cfg.Speaker, Volume: a.cfg.Volume, Display: a.cfg.Display, Width: a.cfg.Width, Height: a.cfg.Height, FPS: a.cfg.FPS, BitrateKbps: a.cfg.BitrateKbps}
		},
		OnSettings: func(store.Settings) {
			// The reloader applies what is live (the volume) and names
			// what waits for the next restart.
			select {
			case a.settingsSaved <- struct{}{}:
			default: // one re-read is already pending
			}
		},
		LEDTest: func() {
			if f := a.ledTest.Load(); f != nil {
				(*f)()
			}
		},
		Restart:  a.RequestRestart,
		LEDs:     term.LEDs,
		Listener: ln,
		Addr:     addr,
		Clock:    a.clk,
		Logger:   a.deps.Logger,
	})
}

// SetupLines are the serial console's lines about the setup page: its
// certificate's SHA-256 fingerprint and its https:// address on each
// interface. nil without a page.
func SetupLines(s *setup.Server) []string {
	if s == nil {
		return nil
	}
	var out []string
	if fp := s.Fingerprint(); fp != "" {
		out = append(out, "setup page certificate SHA-256 "+fp)
	}
	if addr, ok := s.Addr().(*net.TCPAddr); ok {
		ips := []net.IP{addr.IP}
		if addr.IP == nil || addr.IP.IsUnspecified() {
			ips = setup.InterfaceIPs()
		}
		for _, ip := range ips {
			out = append(out, "setup page https://"+net.JoinHostPort(ip.String(), fmt.Sprint(addr.Port))+"/")
		}
	}
	return out
}

func (a *App) console(path string, stdin io.Reader, stdout io.Writer, term *gpio.Terminal, setupLines func() []string) *console.Console {
	var out io.Writer
	var in io.Reader
	switch path {
	case "":
		return nil
	case "-":
		out, in = stdout, console.Pollable(stdin)
	default:
		f, err := console.OpenSerial(path)
		if err != nil {
			a.log.Error("console unavailable", "tty", path, "err", err)
			return nil
		}
		out, in = f, f
	}
	c, err := console.New(console.Config{
		Health: a.health, Out: out, In: in, Events: a.store, Restart: a.RequestRestart,
		LEDs: term.String, Setup: setupLines, Clock: a.clk, Logger: a.deps.Logger,
	})
	if err != nil {
		a.log.Error("console unavailable", "err", err)
		return nil
	}
	return c
}

// metricsIdleTimeout closes a scraper's keep-alive connection idle that
// long, as the setup page and the hub do (30 s). Without it every client
// that opens a connection and never closes it (a scraper with a new
// transport per scrape, the bench's) held one fd and one goroutine of
// tetherd until the next restart: ~4 per fault over a soak. A variable
// only for the test.
var metricsIdleTimeout = 30 * time.Second

func (a *App) metricsServer(addr string) Component {
	return ComponentFunc(func(ctx context.Context) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return a.serveMetrics(ctx, ln)
	})
}

// serveMetrics serves /metrics and /healthz on ln until ctx ends.
func (a *App) serveMetrics(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: metricsIdleTimeout}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
