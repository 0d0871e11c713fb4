package appliance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tether/board"
	"tether/internal/termpw"
	"tether/internal/version"
	"tether/store"
)

// ErrUsage means the command line was wrong; the message is printed.
var ErrUsage = errors.New("usage")

// Main is tetherd's whole command line: the daemon, `login` and `status`
// (the demo is cmd/tether-demo). main only wires signals and exit codes.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "login":
			return cmdLogin(ctx, args[1:], stdin, stdout, stderr)
		case "status":
			return cmdStatus(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("tetherd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "config file (default "+ConfigFile+")")
	demo := fs.Bool("demo", false, "moved to the tether-demo command (make demo)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tetherd [flags]            run the appliance\n       tetherd login -hub URL -user NAME   store a session (password on stdin or prompt)\n       tetherd status [-data PATH]        print the stored state\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h asked for the usage: not an error
		}
		return ErrUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("tetherd"))
		return nil
	}
	// SIGHUP re-reads the configuration instead of ending the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if *demo {
		// The demo's in-process hub, TURN server and customer page live in
		// cmd/tether-demo so the firmware links none of them (issue 13).
		return errors.New("-demo is not in tetherd, so not in release builds: run `make demo` (go run ./cmd/tether-demo) from the source tree")
	}
	// A layer that does not resolve is a fault tetherd shows and waits
	// out, not an exit (fault.go).
	cfg, configFault, err := resolveOrFault(fs, os.Getenv, os.ReadFile, storedSettings, detectBoard)
	if err != nil {
		return err
	}
	log, level := NewLogger(cfg.LogLevel, stderr)
	log.Info("starting", "version", version.Version, "board", cfg.Profile.Name)
	a, err := New(cfg, Deps{Logger: log, Extras: append(DefaultExtras(cfg, stdin, stdout), reloader(fs, hup, level), faultWatcher(fs))})
	if err != nil {
		return err
	}
	a.checkStartup(configFault)
	return a.Run(ctx)
}

// storedSettings reads the setup page's settings without keeping the file
// open (the daemon opens it for good later).
func storedSettings(path string) (store.Settings, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return store.Settings{}, nil
	}
	s, err := store.Open(path, store.Options{Logger: slog.New(slog.DiscardHandler), LockTimeout: 2 * time.Second})
	if err != nil {
		return store.Settings{}, err
	}
	defer s.Close()
	return s.Settings()
}

func detectBoard() (board.Profile, error) {
	p, _, err := board.Detect("")
	return p, err
}

// NewLogger writes text lines to w at level, which SIGHUP may change
// through the returned LevelVar.
func NewLogger(level string, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	lv.Set(parseLevel(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})), lv
}

// cmdLogin is `tetherd login -hub URL -user NAME`: POST /api/login and
// store the session exactly as the setup page does. The password comes from
// stdin (one line) or an interactive prompt; it is never stored.
func cmdLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tetherd login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hub := fs.String("hub", "", "hub base URL")
	user := fs.String("user", "", "counter account name")
	data := fs.String("data", "", "bbolt state file (default from config)")
	ca := fs.String("ca-file", "", "PEM CA of a private hub")
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	if *hub == "" || *user == "" {
		fmt.Fprintln(stderr, "tetherd login: -hub and -user are required")
		return ErrUsage
	}
	path := *data
	if path == "" {
		path = os.Getenv("TETHER_DATA")
	}
	if path == "" {
		path = defaults()["data"]
	}
	pw, err := termpw.Read(stdin, stderr, "password for "+*user+": ")
	if err != nil {
		return fmt.Errorf("login: reading the password: %w", err)
	}
	if done, err := loginViaDaemon(path, *hub, *user, pw, *ca, stdout, stderr); done {
		return err
	}
	roots, err := loadCA(*ca)
	if err != nil {
		return err
	}
	r, err := Login(ctx, *hub, *user, pw, roots)
	if err != nil {
		return err
	}
	s, err := store.Open(path, store.Options{LockTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("login: state file %s (is tetherd running without its control socket %s?): %w", path, ControlSocket(path), err)
	}
	defer s.Close()
	sess := store.Session{Token: r.Token, ExpiresAt: r.ExpiresAt, DeviceID: r.DeviceID, RoomID: r.RoomID, HubURL: *hub}
	if err := s.SetSession(sess); err != nil {
		return err
	}
	settings, _ := s.Settings()
	if settings.HubURL == "" {
		_ = s.UpdateSettings(func(st *store.Settings) error { st.HubURL = *hub; return nil })
	}
	_ = s.AppendEvent(store.Event{Component: "appliance", From: "", To: "logged in", Detail: "tetherd login as " + *user})
	fmt.Fprintf(stdout, "logged in as %s: device %s, room %s, session valid until %s\n", *user, r.DeviceID, r.RoomID, r.ExpiresAt.Format(time.RFC3339))
	return nil
}

// cmdStatus prints what the state file holds (never the token itself).
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tetherd status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "bbolt state file")
	n := fs.Int("events", 20, "how many recent events to show")
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	path := *data
	if path == "" {
		path = os.Getenv("TETHER_DATA")
	}
	if path == "" {
		path = defaults()["data"]
	}
	if done, err := statusViaDaemon(path, *n, stdout); done {
		return err
	}
	s, err := store.Open(path, store.Options{LockTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("status: %s (is tetherd running without its control socket %s?): %w", path, ControlSocket(path), err)
	}
	defer s.Close()
	fmt.Fprintln(stdout, "daemon       not running")
	writeStatus(stdout, s, path, *n, time.Now())
	return nil
}
