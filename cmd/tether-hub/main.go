// Command tether-hub is Tether's signalling hub (serve) and its admin CLI
// (account, invite). See docs/protocol.md, "Hub".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"tether/internal/termpw"
	"tether/internal/version"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

const usage = `usage:
  tether-hub serve [-listen 127.0.0.1:8080] [-data hub.db] [-public-url URL]
                   [-tls-cert cert.pem -tls-key key.pem]
                   [-turn-udp :3478] [-turn-tcp :3478] [-public-ip IP] [-turn-allow-peers CIDR,...]
                   [-ice URL[,secret=S]]... [-max-sessions N] [-max-sessions-per-addr N] [-max-conns-per-addr N]
  tether-hub account add NAME [-room ROOM] [-operator]   (password from the terminal or stdin)
  tether-hub account list
  tether-hub account revoke NAME
  tether-hub invite ROOM [-ttl 24h] [-qr file.png]
  tether-hub version
Admin commands use the running hub's admin socket (DATA.sock) when it is up,
and open the data file directly otherwise.
`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tether-hub:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("no command\n" + usage)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "account":
		if len(args) < 2 {
			return errors.New("account: add, list or revoke\n" + usage)
		}
		return account(args[1], args[2:], stdin, stdout)
	case "invite":
		return invite(args[1:], stdout)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version.String("tether-hub"))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

type iceFlags []hub.ICEConfig

func (f *iceFlags) String() string { return fmt.Sprint(len(*f)) }

// Set parses URL[,URL...][,secret=S][,username=U,credential=C].
func (f *iceFlags) Set(v string) error {
	var c hub.ICEConfig
	for _, p := range strings.Split(v, ",") {
		switch k, val, _ := strings.Cut(p, "="); k {
		case "secret":
			c.Secret = val
		case "username":
			c.Username = val
		case "credential":
			c.Credential = val
		default:
			c.URLs = append(c.URLs, p)
		}
	}
	*f = append(*f, c)
	return nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg hub.Config
	var ice iceFlags
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&cfg.DataPath, "data", "hub.db", "bbolt data file (and, with -redis, the admin socket's path + .sock)")
	fs.DurationVar(&cfg.Cluster.NodeTTL, "node-ttl", 0, "with -redis: how long a silent node counts as alive (default 10s)")
	fs.StringVar(&cfg.Redis, "redis", "", "keep accounts, sessions and invites in Redis, shared by several hub nodes (redis://host:6379/0 or unix:///path/redis.sock)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base URL customers use (invite links)")
	fs.StringVar(&cfg.TURN.UDP, "turn-udp", "", "embedded TURN UDP listen address (e.g. :3478)")
	fs.StringVar(&cfg.TURN.TCP, "turn-tcp", "", "embedded TURN TCP listen address (e.g. :3478)")
	fs.StringVar(&cfg.TURN.PublicIP, "public-ip", "", "IP address announced for TURN relays")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the PEM private key of -tls-cert")
	allowPeers := fs.String("turn-allow-peers", "", "comma-separated CIDRs TURN relays may reach although private/loopback/link-local (e.g. a LAN)")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", 0, "Engine.IO sessions in total (default 10000, -1: no bound)")
	fs.IntVar(&cfg.MaxSessionsPerAddr, "max-sessions-per-addr", 0, "Engine.IO sessions per client address (default 32, -1: no bound)")
	fs.IntVar(&cfg.MaxConnsPerAddr, "max-conns-per-addr", 0, "TCP connections per client address (default 64, -1: no bound)")
	fs.DurationVar(&cfg.RecoveryWindow, "recovery", 2*time.Minute, "connection state recovery window")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", false, "take client addresses from X-Forwarded-For")
	fs.Var(&ice, "ice", "external STUN/TURN server: URL[,URL][,secret=S | ,username=U,credential=C] (repeatable)")
	origins := fs.String("origins", "", "comma-separated extra allowed browser origins")
	verbose := fs.Bool("v", false, "debug logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if !hub.WebBuilt() {
		// A release is never built this way (tether-dist refuses); a
		// developer's `go build` before `make web` is, so say it at once.
		cfg.Logger.Error("customer page not built into this binary: customers get a 'not built' page; run `make web` and rebuild")
	}
	cfg.ICE = ice
	if *allowPeers != "" {
		cfg.TURN.AllowPeers = strings.Split(*allowPeers, ",")
	}
	if *origins != "" {
		cfg.AllowedOrigins = strings.Split(*origins, ",")
	}
	h, err := hub.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return h.Run(ctx)
}

// storeFlags are where the admin commands find the hub's state.
type storeFlags struct{ data, redis *string }

func dataFlag(fs *flag.FlagSet) storeFlags {
	return storeFlags{fs.String("data", "hub.db", "bbolt data file"),
		fs.String("redis", "", "the hubs' Redis (as serve -redis) instead of the data file")}
}

// parse parses flags that may follow positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// admin returns the running hub's admin client, or the opened store.
func admin(f storeFlags) (*hub.AdminClient, *auth.Store, error) {
	data := *f.data
	if c, err := hub.DialAdmin(data + ".sock"); err == nil {
		return c, nil, nil
	}
	// With Redis every node and this command share the state: no lock.
	s, err := auth.Open(auth.Config{Path: data, Redis: *f.redis, Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, auth.ErrLocked) {
		return nil, nil, fmt.Errorf("%w (a hub is running without its admin socket %s.sock?)", err, data)
	}
	return nil, s, err
}

// readPassword reads a new account's password: twice without echo at a
// terminal, one line from a pipe.
func readPassword(stdin io.Reader, stdout io.Writer) (string, error) {
	return termpw.ReadConfirmed(stdin, stdout, "password: ", "again: ")
}

func account(cmd string, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("account "+cmd, flag.ContinueOnError)
	data := dataFlag(fs)
	room := fs.String("room", "", "room id of a counter (default: its name)")
	operator := fs.Bool("operator", false, "an operator account (fleet dashboard), no room")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch cmd {
	case "add":
		if len(pos) != 1 {
			return errors.New("account add NAME")
		}
		pw, err := readPassword(stdin, stdout)
		if err != nil {
			return err
		}
		req := hub.AdminAccount{Name: pos[0], Password: pw, Role: auth.RoleCounter, RoomID: *room}
		if *operator {
			req.Role = auth.RoleOperator
		}
		c, s, err := admin(data)
		if err != nil {
			return err
		}
		var a auth.Account
		if c != nil {
			err = c.Do("POST", "/admin/accounts", req, &a)
		} else {
			defer s.Close()
			a, err = s.AddAccount(req.Name, req.Password, req.Role, req.RoomID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s) room=%s device=%s\n", a.Name, a.Role, a.RoomID, a.DeviceID)
		return nil
	case "list":
		c, s, err := admin(data)
		if err != nil {
			return err
		}
		var list []auth.Account
		if c != nil {
			err = c.Do("GET", "/admin/accounts", nil, &list)
		} else {
			defer s.Close()
			list, err = s.Accounts()
		}
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tROOM\tDEVICE\tCREATED\tREVOKED")
		for _, a := range list {
			rev := ""
			if !a.RevokedAt.IsZero() {
				rev = a.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Role, a.RoomID, a.DeviceID, a.CreatedAt.Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 1 {
			return errors.New("account revoke NAME")
		}
		c, s, err := admin(data)
		if err != nil {
			return err
		}
		n := 0
		if c != nil {
			var r struct{ Sessions int }
			err = c.Do("POST", "/admin/accounts/"+pos[0]+"/revoke", nil, &r)
			n = r.Sessions
		} else {
			defer s.Close()
			n, err = s.Revoke(pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", n, pos[0])
		return nil
	}
	return fmt.Errorf("account %s: unknown command\n%s", cmd, usage)
}

func invite(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	data := dataFlag(fs)
	ttl := fs.Duration("ttl", auth.DefaultInviteTTL, "how long the invite is valid")
	qr := fs.String("qr", "", "also write the link as a QR code PNG to this file")
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "hub base URL for the link when the hub is not running")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("invite ROOM")
	}
	c, s, err := admin(data)
	if err != nil {
		return err
	}
	var inv hub.AdminInvite
	if c != nil {
		err = c.Do("POST", "/admin/invites", map[string]any{"roomId": pos[0], "ttl": *ttl}, &inv)
	} else {
		defer s.Close()
		inv.Invite, err = s.NewInvite(pos[0], *ttl)
		inv.Link = strings.TrimRight(*publicURL, "/") + "/c/" + inv.Code
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, inv.Link)
	fmt.Fprintf(stdout, "room %s, expires %s\n", inv.RoomID, inv.ExpiresAt.Format(time.RFC3339))
	if *qr != "" {
		png, err := hub.QRPNG(inv.Link, 512)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*qr, png, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "QR code written to %s\n", *qr)
	}
	return nil
}
