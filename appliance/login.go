package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrInvalidCredentials is the hub's 401 {"error":"invalid_credentials"}.
var ErrInvalidCredentials = errors.New("login: invalid credentials")

// LoginResult is the hub's answer to POST /api/login (room protocol v1,
// "Login").
type LoginResult struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	DeviceID  string    `json:"deviceId"`
	RoomID    string    `json:"roomId"`
}

// Login performs POST /api/login against any server implementing the
// contract. The password is sent once and never kept.
func Login(ctx context.Context, hubURL, username, password string, roots *x509.CertPool) (LoginResult, error) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	u := strings.TrimRight(hubURL, "/") + "/api/login"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return LoginResult{}, ErrInvalidCredentials
	default:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return LoginResult{}, fmt.Errorf("login: hub answered %d: %.200s", resp.StatusCode, e.Error)
	}
	var r LoginResult
	if err := json.Unmarshal(b, &r); err != nil {
		return LoginResult{}, fmt.Errorf("login: bad answer: %w", err)
	}
	if r.Token == "" || r.ExpiresAt.IsZero() {
		return LoginResult{}, fmt.Errorf("login: answer without token or expiresAt")
	}
	return r, nil
}
