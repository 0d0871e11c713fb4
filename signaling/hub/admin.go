package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"tether/signaling/hub/auth"
)

// The admin API is HTTP on a unix socket beside the data file, mode 0600:
// whoever may read the data file may administer the hub. It exists because
// bbolt allows one process at a time, and because a revocation must reach
// the running hub to push session:expired to a connected device. The CLI
// (cmd/tether-hub) uses it when the hub runs and opens the file otherwise.

type adminServer struct {
	h   *Hub
	ln  net.Listener
	srv *http.Server
}

func (h *Hub) listenAdmin() (*adminServer, error) {
	path := h.cfg.AdminSocket
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("hub: admin socket %s is in use by another hub", path)
	}
	_ = os.Remove(path) // a stale socket of a hub that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
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
	return &adminServer{h: h, ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}, nil
}

func (a *adminServer) serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		a.srv.Close()
	}()
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.h.log.Warn("admin socket", "err", err)
	}
	_ = os.Remove(a.h.cfg.AdminSocket)
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
type AdminClient struct {
	c *http.Client
}

// DialAdmin returns a client when a hub listens on the socket, or an error
// when none does (the caller then opens the data file itself).
func DialAdmin(path string) (*AdminClient, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, err
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &AdminClient{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Do sends one admin request and decodes the answer into out.
func (a *AdminClient) Do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://hub"+path, body)
	if err != nil {
		return err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return fmt.Errorf("hub admin: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("hub admin: %s: %s", resp.Status, e.Error)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
