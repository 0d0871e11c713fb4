// Command tether-demo is `make demo`: an in-process hub on loopback
// (signalling, TURN, customer page), a counter account and an invite, and
// the appliance on the sim board with test sources, logged in. It prints the
// customer link; open it in a browser to be the customer.
//
// It is a command of its own so that tetherd, the firmware, links neither
// the hub nor its TURN server nor go-qrcode (issue 13; cmd/tetherd's
// TestDeps keeps it so). It takes tetherd's flags, which win over the
// demo's defaults.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"tether/appliance"
	"tether/appliance/peer"
	"tether/board"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, appliance.ErrUsage):
		os.Exit(2)
	case errors.Is(err, appliance.ErrStuck):
		fmt.Fprintln(os.Stderr, "tether-demo:", err)
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "tether-demo:", err)
		os.Exit(1)
	}
}

// demoCounter is the demo's counter account.
const demoCounter = "counter-1"

// run is the whole demo: a fresh directory, the hub, its accounts and
// invite, the appliance logged in, the links printed; it returns when ctx
// ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tether-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "config file (default "+appliance.ConfigFile+")")
	appliance.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return appliance.ErrUsage
	}
	dir, err := freshDir()
	if err != nil {
		return err
	}
	log, _ := appliance.NewLogger("info", stderr)

	h, hubURL, err := newHub(dir, log.With("side", "hub"))
	if err != nil {
		return err
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }()

	acc, err := addAccounts(h)
	if err != nil {
		return err
	}
	cfg, err := applianceConfig(fs, dir, hubURL)
	if err != nil {
		return err
	}
	a, err := loggedInAppliance(ctx, cfg, log.With("side", "appliance"), stdout, hubURL, acc.password)
	if err != nil {
		return err
	}
	printLinks(stdout, h.InviteLink(acc.invite), hubURL, acc.opPassword, cfg)
	return a.Run(ctx)
}

// freshDir is the demo's state directory, emptied: a new account, invite
// and device state every run.
func freshDir() (string, error) {
	dir := os.Getenv("TETHER_DEMO_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tether-demo")
	}
	_ = os.RemoveAll(dir)
	return dir, os.MkdirAll(dir, 0o700)
}

// newHub builds the hub on 127.0.0.1:8090 (any free port when taken).
func newHub(dir string, log *slog.Logger) (*hub.Hub, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:8090")
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
	}
	hubURL := "http://" + ln.Addr().String()
	h, err := hub.New(hub.Config{
		Listener: ln, DataPath: filepath.Join(dir, "hub.db"), PublicURL: hubURL,
		// The demo's peers are this machine and its LAN: the ranges a
		// public hub refuses (issue 12) are allowed here.
		TURN: hub.TURNConfig{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", PublicIP: "127.0.0.1",
			AllowPeers: []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}},
		Logger: log,
	})
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("demo hub: %w", err)
	}
	return h, hubURL, nil
}

// accounts are the demo's random credentials and the customer invite.
type accounts struct {
	password, opPassword, invite string
}

// addAccounts creates the counter and operator accounts with random
// passwords, and an invite to the counter's room valid for a day.
func addAccounts(h *hub.Hub) (accounts, error) {
	var acc accounts
	acc.password, acc.opPassword = randomPassword(), randomPassword()
	if _, err := h.Store().AddAccount(demoCounter, acc.password, auth.RoleCounter, demoCounter); err != nil {
		return acc, fmt.Errorf("demo account: %w", err)
	}
	if _, err := h.Store().AddAccount("operator", acc.opPassword, auth.RoleOperator, ""); err != nil {
		return acc, fmt.Errorf("demo operator account: %w", err)
	}
	inv, err := h.Store().NewInvite(demoCounter, 24*time.Hour)
	if err != nil {
		return acc, fmt.Errorf("demo invite: %w", err)
	}
	acc.invite = inv.Code
	return acc, nil
}

func randomPassword() string {
	var pb [12]byte
	_, _ = rand.Read(pb[:])
	return hex.EncodeToString(pb[:])
}

// applianceConfig is the sim board with test sources and its state under
// dir; flags the user gave still win (e.g. -setup-addr).
func applianceConfig(fs *flag.FlagSet, dir, hubURL string) (appliance.Config, error) {
	defaultsFor := map[string]string{
		"board": board.NameSim, "hub": hubURL, "data": filepath.Join(dir, "tetherd.db"),
		"setup-addr": "127.0.0.1:8091", "metrics-addr": "127.0.0.1:9101", "camera": "test", "mic": "test",
		"width": "640", "height": "360", "fps": "30", "bitrate": "1000",
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for k, v := range defaultsFor {
		if !set[k] {
			_ = fs.Set(k, v)
		}
	}
	return appliance.Resolve(fs, os.Getenv, func(string) ([]byte, error) { return nil, os.ErrNotExist }, nil, nil)
}

// loggedInAppliance builds the appliance with its setup page, console and
// metrics, and logs it in to the demo hub.
func loggedInAppliance(ctx context.Context, cfg appliance.Config, log *slog.Logger, stdout io.Writer, hubURL, password string) (*appliance.App, error) {
	a, err := appliance.New(cfg, appliance.Deps{
		Logger: log, Extras: appliance.DefaultExtras(cfg, nil, stdout),
		// Everything is on loopback: offer loopback candidates so the
		// browser on this machine and the loopback TURN server are reachable.
		PeerConfig: func(c *peer.Config) { c.IncludeLoopback = true },
	})
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := a.Login(lctx, hubURL, demoCounter, password); err != nil {
		return nil, fmt.Errorf("demo login: %w", err)
	}
	return a, nil
}

func printLinks(w io.Writer, customerLink, hubURL, opPassword string, cfg appliance.Config) {
	fmt.Fprintf(w, `
Tether demo is running.

  Customer link (open it in a browser, allow camera and microphone):
      %s
  Fleet dashboard:   %s/dashboard   (operator / %s, this demo only)
  Appliance setup:   https://%s/   (self-signed: compare the certificate with the console line; choose a setup password on first visit)
  Metrics:           http://%s/metrics

Stop with Ctrl-C.

`, customerLink, hubURL, opPassword, cfg.SetupAddr, cfg.MetricsAddr)
}
