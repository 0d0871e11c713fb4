package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"tether/internal/ctlsock"
	"tether/signaling/hub/auth"
)

// The admin API is HTTP on a unix socket beside the data file (package
// ctlsock: mode 0600, the peer's uid checked, one bounded request per
// connection): whoever may read the data file may administer the hub. It
// exists because
// bbolt allows one process at a time, and because a revocation must reach
// the running hub to push session:expired to a connected device. The CLI
// (cmd/tether-hub) uses it when the hub runs and opens the file otherwise.

type adminServer struct {
	h   *Hub
	ln  net.Listener
	mux *http.ServeMux
}

func (h *Hub) listenAdmin() (*adminServer, error) {
	ln, err := ctlsock.Listen(h.cfg.AdminSocket)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/accounts", func(w http.ResponseWriter, _ *http.Request) {
		list, err := h.store.Accounts()
		adminReply(w, list, err)
	})
	mux.HandleFunc("POST /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		var req AdminAccount
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&req); err != nil {
			adminReply(w, nil, fmt.Errorf("%v: %w", err, auth.ErrBadInput))
			return
		}
		a, err := h.store.AddAccount(req.Name, req.Password, req.Role, req.RoomID)
		adminReply(w, a, err)
	})
	mux.HandleFunc("POST /admin/accounts/{name}/revoke", func(w http.ResponseWriter, r *http.Request) {
		n, err := h.RevokeAccount(r.PathValue("name"))
		adminReply(w, map[string]int{"sessions": n}, err)
	})
	mux.HandleFunc("POST /admin/invites", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			RoomID string        `json:"roomId"`
			TTL    time.Duration `json:"ttl"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&req); err != nil {
			adminReply(w, nil, fmt.Errorf("%v: %w", err, auth.ErrBadInput))
			return
		}
		inv, err := h.store.NewInvite(req.RoomID, req.TTL)
		adminReply(w, AdminInvite{Invite: inv, Link: h.InviteLink(inv.Code)}, err)
	})
	mux.HandleFunc("GET /admin/fleet", func(w http.ResponseWriter, _ *http.Request) {
		f, err := h.Fleet()
		adminReply(w, f, err)
	})
	return &adminServer{h: h, ln: ln, mux: mux}, nil
}

func (a *adminServer) serve(ctx context.Context) {
	if err := ctlsock.Serve(ctx, a.ln, a.mux, a.h.log); err != nil {
		a.h.log.Warn("admin socket", "err", err)
	}
}

// AdminAccount is the admin API's new-account request.
type AdminAccount struct {
	Name     string    `json:"name"`
	Password string    `json:"password"`
	Role     auth.Role `json:"role"`
	RoomID   string    `json:"roomId"`
}

// AdminInvite is a new invite with its link.
type AdminInvite struct {
	auth.Invite
	Link string `json:"link"`
}

func adminReply(w http.ResponseWriter, v any, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.Is(err, auth.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, auth.ErrExists):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, auth.ErrBadInput):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
}

// AdminClient talks to a running hub's admin socket.
type AdminClient = ctlsock.Client

// DialAdmin returns a client when a hub listens on the socket, or an error
// when none does (the caller then opens the data file itself).
func DialAdmin(path string) (*AdminClient, error) { return ctlsock.Dial(path, "hub admin") }
