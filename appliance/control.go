package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"tether/internal/ctlsock"
	"tether/store"
)

// The control socket lets `tetherd status` and `tetherd login` reach the
// running daemon, which holds bbolt's exclusive lock on the state file:
// HTTP on a unix socket beside it (ControlSocket), built on the hub
// admin's package ctlsock (mode 0600, peer uid checked, one bounded request
// per connection). The commands open the file themselves when no daemon
// answers.

// ControlSocket is the control socket of the daemon using dataPath.
func ControlSocket(dataPath string) string { return dataPath + ".sock" }

// controlLogin is POST /login's body: `tetherd login`'s flags and the
// password it read.
type controlLogin struct {
	Hub      string `json:"hub"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// controlServer serves the control socket until ctx ends. It is part of
// the core: without it a technician must stop the service to re-provision.
func (a *App) controlServer(path string) Component {
	return ComponentFunc(func(ctx context.Context) error {
		ln, err := ctlsock.Listen(path)
		if err != nil {
			// Not fatal: the appliance's job is the link; the commands
			// then say the file is locked.
			a.log.Error("control socket unavailable; tetherd status/login need the daemon stopped", "path", path, "err", err)
			return nil
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("events"))
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			snap := a.health.Snapshot()
			fmt.Fprintf(w, "daemon       running (pid %d), %s\n", os.Getpid(), snap.Line())
			ss := a.device.Client().Status()
			fmt.Fprintf(w, "socket       %s, transport %s, recovered %v, reconnects %d\n", ss.State, ss.Transport, ss.Recovered, ss.Reconnects)
			writeStatus(w, a.store, a.cfg.DataPath, n, a.clk.Now())
		})
		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
			var req controlLogin
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.User == "" {
				ctlsock.WriteError(w, http.StatusBadRequest, fmt.Errorf("login: bad request: %v", err))
				return
			}
			lctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			sess, err := a.Login(lctx, req.Hub, req.User, req.Password)
			switch {
			case errors.Is(err, ErrInvalidCredentials):
				ctlsock.WriteError(w, http.StatusUnauthorized, err)
			case err != nil:
				ctlsock.WriteError(w, http.StatusBadGateway, err)
			default:
				ctlsock.WriteJSON(w, http.StatusOK, LoginResult{ExpiresAt: sess.ExpiresAt, DeviceID: sess.DeviceID, RoomID: sess.RoomID})
			}
		})
		a.log.Info("control socket listening", "path", path)
		return ctlsock.Serve(ctx, ln, mux, a.log)
	})
}

// writeStatus prints what the state file holds (never the token itself):
// `tetherd status` from the file, and the daemon's answer after its live
// lines.
func writeStatus(out io.Writer, s *store.Store, path string, events int, now time.Time) {
	if events <= 0 {
		events = 20
	}
	w := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	w("state file   %s", path)
	if id, err := s.Identity(); err == nil {
		w("identity     %+v", id)
	}
	sess, err := s.Session()
	switch {
	case err != nil || sess.Token == "":
		w("session      none (login needed)")
	case sess.Expired(now):
		w("session      expired at %s (login needed)", sess.ExpiresAt.Format(time.RFC3339))
	default:
		w("session      device %s, room %s, hub %s, valid until %s", sess.DeviceID, sess.RoomID, sess.HubURL, sess.ExpiresAt.Format(time.RFC3339))
	}
	if st, err := s.Settings(); err == nil {
		w("settings     %+v", st)
	}
	if ls, err := s.LinkState(); err == nil {
		path := ls.ICEPath
		if path == "" {
			path = "none"
		}
		w("link         transport %s, ICE path %s", ls.Transport, path)
		w("counters     socket reconnects %d, ICE restarts %d, customer changes %d", ls.SocketReconnects, ls.ICERestarts, ls.CustomerChanges)
		if ls.LastError != "" {
			w("last error   %s: %s", ls.LastErrorComponent, ls.LastError)
		}
	}
	if evs, err := s.Events(events); err == nil {
		w("events (last %d):", len(evs))
		for _, e := range evs {
			w("  %s  %-10s %s → %s  %s", e.Time.Format(time.RFC3339), e.Component, e.From, e.To, e.Detail)
		}
	}
}

// statusViaDaemon prints the running daemon's status; done is false when
// no daemon answers on the control socket (the caller reads the file).
func statusViaDaemon(path string, events int, stdout io.Writer) (done bool, err error) {
	c, err := ctlsock.Dial(ControlSocket(path), "tetherd")
	if err != nil {
		return false, nil
	}
	text, err := c.Text(http.MethodGet, "/status?events="+strconv.Itoa(events), nil)
	if err != nil {
		return true, fmt.Errorf("status: %w", err)
	}
	_, err = io.WriteString(stdout, text)
	return true, err
}

// loginViaDaemon hands a login to the running daemon, which applies it at
// once (a new identity: verify and join afresh); done is false when no
// daemon answers (the caller stores the session in the file itself).
func loginViaDaemon(path, hub, user, password, caFile string, stdout, stderr io.Writer) (done bool, err error) {
	c, err := ctlsock.Dial(ControlSocket(path), "tetherd")
	if err != nil {
		return false, nil
	}
	if caFile != "" {
		fmt.Fprintln(stderr, "tetherd login: the running tetherd verifies the hub with its own ca-file; -ca-file is not used")
	}
	var r LoginResult
	if err := c.Do(http.MethodPost, "/login", controlLogin{Hub: hub, User: user, Password: password}, &r); err != nil {
		return true, fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(stdout, "logged in as %s (applied by the running tetherd): device %s, room %s, session valid until %s\n",
		user, r.DeviceID, r.RoomID, r.ExpiresAt.Format(time.RFC3339))
	return true, nil
}
