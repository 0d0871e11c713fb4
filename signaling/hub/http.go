package hub

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	qrcode "github.com/skip2/go-qrcode"

	"tether/internal/login"
	"tether/signaling/hub/auth"
)

// webDist holds the customer page as built by `make web`. The placeholder
// file keeps the directory present on a clean clone, so `go build` works
// before the assets exist and the hub serves a "not built" page instead.
//
//go:embed all:web/dist
var webDist embed.FS

// maxLoginBody bounds POST /api/login.
const maxLoginBody = 4 << 10

// Handler is the hub's HTTP surface (docs/protocol.md, "Hub HTTP"):
//
//	/socket.io/           Engine.IO / Socket.IO
//	POST /api/login       the contract's login
//	GET  /api/invites/{code}  {roomId, expiresAt} or 404 invite_invalid
//	GET  /api/fleet       every counter's state (operator bearer token)
//	POST /api/logout      ends the bearer token's session ({"all":true}: every session of its account)
//	GET  /c/{code}/qr.png the invite link as a QR code
//	GET  /metrics         Prometheus
//	GET  /healthz         "ok" (or "degraded: …" in a cluster without Redis)
//	GET  /, /c/{code}, /* the customer page (web/dist)
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", h.sio)
	mux.HandleFunc("POST /api/login", h.handleLogin)
	mux.HandleFunc("/api/login", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
	})
	mux.HandleFunc("GET /api/invites/{code}", h.handleInvite)
	mux.HandleFunc("GET /api/fleet", h.handleFleet)
	mux.HandleFunc("POST /api/logout", h.handleLogout)
	mux.HandleFunc("GET /c/{code}/qr.png", h.handleQR)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, h.healthz()) })
	mux.Handle("/", h.webHandler())
	return h.bodyDeadline(h.securityHeaders(mux))
}

// bodyDeadline gives every request with a body BodyTimeout to deliver it
// (a client sending a byte at a time is cut off, issue 12). Requests
// without a body get no read deadline: a polling GET is held for up to
// pingInterval and a websocket outlives its request.
func (h *Hub) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders adds to every answer what a browser needs to keep the
// hub's pages to themselves: no framing (clickjacking), no referrer
// leaking invite codes, scripts and connections only to the hub.
func (h *Hub) securityHeaders(next http.Handler) http.Handler {
	connect := "'self'"
	if u, err := url.Parse(h.cfg.PublicURL); err == nil {
		ws := "ws://"
		if u.Scheme == "https" {
			ws = "wss://"
		}
		connect += " " + u.Scheme + "://" + u.Host + " " + ws + u.Host
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
		"media-src 'self' blob:; connect-src " + connect + "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		if h.cfg.TLSCert != "" { // the config, not h.http.TLSConfig: Serve rewrites that (HTTP/2 set-up) while handlers run
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// LoginRequest is POST /api/login's body.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is its 200 answer (the contract's fields plus role).
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	DeviceID  string    `json:"deviceId,omitempty"`
	RoomID    string    `json:"roomId,omitempty"`
	Role      auth.Role `json:"role"`
}

// decodeLogin parses and bounds a login body.
func decodeLogin(body []byte) (LoginRequest, error) {
	var req LoginRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, err
	}
	if dec.More() {
		return req, errors.New("trailing data")
	}
	if req.Username == "" || len(req.Username) > auth.MaxNameLen || len(req.Password) > 1024 {
		return req, errors.New("bad field")
	}
	return req, nil
}

func (h *Hub) clientAddr(r *http.Request) string {
	if h.cfg.TrustProxy {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			first, _, _ := strings.Cut(f, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Hub) handleLogin(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLoginBody+1))
	if err != nil || len(body) > maxLoginBody {
		h.m.logins.WithLabelValues("bad_request").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": codeBadRequest})
		return
	}
	req, err := decodeLogin(body)
	if err != nil {
		h.m.logins.WithLabelValues("bad_request").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": codeBadRequest})
		return
	}
	// The attempt is reserved before the password is checked, so a burst
	// of concurrent guesses gets no more than the limiter's free attempts
	// through to argon2 (issue 12 item 3).
	addr := h.clientAddr(r)
	att, wait := h.lim.Reserve(req.Username, addr)
	if att == nil {
		h.m.logins.WithLabelValues("rate_limited").Inc()
		writeRateLimited(w, wait)
		return
	}
	sess, token, err := h.store.Login(req.Username, req.Password)
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		att.Fail()
		h.m.logins.WithLabelValues("invalid").Inc()
		h.log.Info("login refused", "user", req.Username, "addr", addr)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": codeInvalidCreds})
		return
	case errors.Is(err, login.ErrBusy):
		// Too many password checks queued in the whole process: no
		// verdict on this password, try again in a moment.
		att.Release()
		h.m.logins.WithLabelValues("rate_limited").Inc()
		writeRateLimited(w, time.Second)
		return
	case err != nil:
		att.Release()
		h.m.logins.WithLabelValues("error").Inc()
		h.log.Error("login", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": codeInternal})
		return
	}
	att.Succeed()
	h.m.logins.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, LoginResponse{Token: token, ExpiresAt: sess.ExpiresAt, DeviceID: sess.DeviceID, RoomID: sess.RoomID, Role: sess.Role})
}

// writeRateLimited is the 429 of docs/protocol.md "Login".
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": codeRateLimited, "retryAfter": secs})
}

func (h *Hub) handleInvite(w http.ResponseWriter, r *http.Request) {
	inv, err := h.store.CheckInvite(r.PathValue("code"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": codeInviteInvalid})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"roomId": inv.RoomID, "expiresAt": inv.ExpiresAt})
}

func (h *Hub) handleQR(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if _, err := h.store.CheckInvite(code); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": codeInviteInvalid})
		return
	}
	png, err := QRPNG(h.InviteLink(code), 512)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": codeInternal})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

// QRPNG renders text as a QR code PNG of size×size pixels (medium error
// correction, enough for a link printed on a counter).
func QRPNG(text string, size int) ([]byte, error) {
	return qrcode.Encode(text, qrcode.Medium, size)
}

// FleetEntry is one counter on the fleet dashboard.
type FleetEntry struct {
	Account      string          `json:"account"`
	RoomID       string          `json:"roomId"`
	DeviceID     string          `json:"deviceId"`
	Online       bool            `json:"online"`
	Transport    string          `json:"transport,omitempty"`
	ConnectedAt  time.Time       `json:"connectedAt,omitzero"`
	LastSeen     time.Time       `json:"lastSeen,omitzero"`
	Connects     uint64          `json:"connects"`
	InCall       bool            `json:"inCall"`
	Waiting      int             `json:"waiting"`
	Status       json.RawMessage `json:"status,omitempty"`
	StatusAt     time.Time       `json:"statusAt,omitzero"`
	UptimeS      float64         `json:"connectedS,omitempty"`
	RevokedAt    time.Time       `json:"revokedAt,omitzero"`
	CallSinceS   float64         `json:"callS,omitempty"`
	ActiveUserID string          `json:"activeUserId,omitempty"`
}

// Fleet returns every counter account with its live state.
func (h *Hub) Fleet() ([]FleetEntry, error) {
	accts, err := h.store.Accounts()
	if err != nil {
		return nil, err
	}
	out := make([]FleetEntry, 0, len(accts))
	h.call(func(st *state) {
		now := st.clk.Now()
		for _, a := range accts {
			if a.Role != auth.RoleCounter {
				continue
			}
			e := FleetEntry{Account: a.Name, RoomID: a.RoomID, DeviceID: a.DeviceID, RevokedAt: a.RevokedAt}
			if d := st.devices[a.DeviceID]; d != nil {
				e.Transport, e.ConnectedAt, e.LastSeen, e.Connects = d.Transport, d.ConnectedAt, d.LastSeen, d.Connects
				e.Status, e.StatusAt = d.Status, d.StatusAt
			}
			if r := st.rooms[a.RoomID]; r != nil {
				if r.device != nil && !r.device.away {
					e.Online = true
					e.Transport = r.device.conn.Transport()
					e.UptimeS = now.Sub(r.device.connectedAt).Seconds()
				}
				if r.active != nil {
					e.InCall, e.ActiveUserID, e.CallSinceS = true, r.active.userID, now.Sub(r.callStart).Seconds()
				}
				e.Waiting = len(r.queue)
			}
			out = append(out, e)
		}
	})
	return out, nil
}

// bearer checks the request's bearer token; on false the 401 is answered.
func (h *Hub) bearer(w http.ResponseWriter, r *http.Request) (string, auth.Session, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": codeUnauthorized})
		return "", auth.Session{}, false
	}
	s, err := h.store.Verify(tok, false)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": codeSessionExpired})
		return "", auth.Session{}, false
	}
	return tok, s, true
}

// handleLogout ends the bearer token's session, or with {"all": true}
// every session of its account (an operator who lost a device). The token
// is dead at once: /api/fleet answers 401 and a device socket using it is
// refused at its next CONNECT.
func (h *Hub) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok, s, ok := h.bearer(w, r)
	if !ok {
		return
	}
	var req struct {
		All bool `json:"all"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
	if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": codeBadRequest})
		return
	}
	if req.All {
		n, err := h.RevokeAccount(s.Account)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": codeInternal})
			return
		}
		h.log.Info("logout everywhere", "account", s.Account, "sessions", n)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "sessions": n})
		return
	}
	if err := h.store.Logout(tok); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": codeInternal})
		return
	}
	h.log.Info("logout", "account", s.Account)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "sessions": 1})
}

func (h *Hub) handleFleet(w http.ResponseWriter, r *http.Request) {
	_, s, ok := h.bearer(w, r)
	if !ok {
		return
	}
	if s.Role != auth.RoleOperator {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": codeForbidden})
		return
	}
	f, err := h.Fleet()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": codeInternal})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"counters": f, "serverTime": h.clk.Now().UTC()})
}

// webHandler serves the built customer page; any path that is not a file
// gets index.html (the page routes /c/{code} itself). Without a build it
// answers a page that says how to build it.
func (h *Hub) webHandler() http.Handler {
	dist, _ := fs.Sub(webDist, "web/dist")
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			notBuilt.Execute(w, nil)
		})
	}
	files := http.FileServer(http.FS(dist))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p != "" && !strings.HasPrefix(path.Base(p), ".") {
			if st, err := fs.Stat(dist, p); err == nil && !st.IsDir() {
				files.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(index)
	})
}

// WebBuilt reports whether the customer page assets are embedded.
func WebBuilt() bool {
	_, err := fs.Stat(webDist, "web/dist/index.html")
	return err == nil
}

var notBuilt = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Tether hub: page not built</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em">
<h1>Customer page assets not built</h1>
<p>This hub binary was built without the customer page. Run <code>make web</code>
in the repository, then rebuild the hub (<code>go build ./cmd/tether-hub</code>).</p>
<p>The signalling API (<code>/socket.io/</code>, <code>/api/login</code>) works without it.</p>
</body></html>
`))
