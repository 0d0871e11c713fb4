//go:build !nodemo

package appliance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"tether/board"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

// runDemo is `tetherd -demo`: an in-process hub on loopback (signalling,
// TURN, customer page), a counter account and an invite, and this appliance
// on the sim board with test sources, logged in. It prints the customer
// link; open it in a browser to be the customer.
func runDemo(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	dir := os.Getenv("TETHER_DEMO_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tether-demo")
	}
	// A fresh start every run: new account, new invite, new device state.
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	log, _ := newLogger("info", stderr)

	ln, err := net.Listen("tcp", "127.0.0.1:8090")
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
	}
	hubURL := "http://" + ln.Addr().String()
	h, err := hub.New(hub.Config{
		Listener: ln, DataPath: filepath.Join(dir, "hub.db"), PublicURL: hubURL,
		// The demo's peers are this machine and its LAN: the ranges a
		// public hub refuses (issue 12) are allowed here.
		TURN: hub.TURNConfig{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", PublicIP: "127.0.0.1",
			AllowPeers: []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}},
		Logger: log.With("side", "hub"),
	})
	if err != nil {
		return fmt.Errorf("demo hub: %w", err)
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }()

	var pb [12]byte
	_, _ = rand.Read(pb[:])
	password := hex.EncodeToString(pb[:])
	const counter = "counter-1"
	if _, err := h.Store().AddAccount(counter, password, auth.RoleCounter, counter); err != nil {
		return fmt.Errorf("demo account: %w", err)
	}
	_, _ = rand.Read(pb[:])
	opPassword := hex.EncodeToString(pb[:])
	if _, err := h.Store().AddAccount("operator", opPassword, auth.RoleOperator, ""); err != nil {
		return fmt.Errorf("demo operator account: %w", err)
	}
	inv, err := h.Store().NewInvite(counter, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("demo invite: %w", err)
	}

	// The appliance: sim board, test sources, state under dir; flags the
	// user gave still win (e.g. -setup-addr).
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
	cfg, err := Resolve(fs, os.Getenv, func(string) ([]byte, error) { return nil, os.ErrNotExist }, nil, nil)
	if err != nil {
		return err
	}
	a, err := New(cfg, Deps{
		Logger: log.With("side", "appliance"), Extras: DefaultExtras(cfg, nil, stdout),
		// Everything is on loopback: offer loopback candidates so the
		// browser on this machine and the loopback TURN server are reachable.
		PeerConfig: func(c *PeerConfigT) { c.IncludeLoopback = true },
	})
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = a.Login(lctx, hubURL, counter, password)
	cancel()
	if err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	fmt.Fprintf(stdout, `
Tether demo is running.

  Customer link (open it in a browser, allow camera and microphone):
      %s
  Fleet dashboard:   %s/dashboard   (operator / %s, this demo only)
  Appliance setup:   https://%s/   (self-signed: compare the certificate with the console line; choose a setup password on first visit)
  Metrics:           http://%s/metrics

Stop with Ctrl-C.

`, h.InviteLink(inv.Code), hubURL, opPassword, cfg.SetupAddr, cfg.MetricsAddr)
	return a.Run(ctx)
}
