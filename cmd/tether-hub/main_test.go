package main

import (
	"bytes"
	"context"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling/hub"
)

func cli(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(args, strings.NewReader(stdin), &out)
	return out.String(), err
}

// The admin CLI works on the data file when no hub runs, and through the
// running hub's admin socket when one does (revocation then reaches it).
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "hub.db")
	if out, err := cli(t, "password-1\n", "account", "add", "c1", "-room", "lobby", "-data", data); err != nil || !strings.Contains(out, "room=lobby device=dev-c1") {
		t.Fatalf("add: %q %v", out, err)
	}
	if _, err := cli(t, "short\n", "account", "add", "c2", "-data", data); err == nil {
		t.Fatal("short password accepted")
	}
	if _, err := cli(t, "password-1\n", "account", "add", "c1", "-data", data); err == nil {
		t.Fatal("duplicate accepted")
	}
	qr := filepath.Join(dir, "qr.png")
	out, err := cli(t, "", "invite", "lobby", "-ttl", "1h", "-qr", qr, "-data", data, "-public-url", "https://hub.example")
	if err != nil || !strings.HasPrefix(out, "https://hub.example/c/") {
		t.Fatalf("invite: %q %v", out, err)
	}
	f, err := os.Open(qr)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 512 {
		t.Fatalf("qr png: %v", err)
	}
	if _, err := cli(t, "", "invite", "nowhere", "-data", data); err == nil {
		t.Fatal("invite to an unknown room")
	}

	// Now with a hub running on the same file.
	h, err := hub.New(hub.Config{Listen: "127.0.0.1:0", DataPath: data, KDF: testenv.KDF, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Wait for the admin socket (Run creates it).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := hub.DialAdmin(data + ".sock"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("admin socket did not appear")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := cli(t, "password-2\n", "account", "add", "op", "-operator", "-data", data); err != nil || !strings.Contains(out, "(operator)") {
		t.Fatalf("add via hub: %q %v", out, err)
	}
	_, tok, err := h.Store().Login("c1", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, "", "invite", "lobby", "-data", data)
	if err != nil || !strings.HasPrefix(out, h.URL()+"/c/") {
		t.Fatalf("invite via hub: %q %v", out, err)
	}
	if out, err := cli(t, "", "account", "revoke", "c1", "-data", data); err != nil || !strings.Contains(out, "revoked 1 session") {
		t.Fatalf("revoke via hub: %q %v", out, err)
	}
	if _, err := h.Store().Verify(tok, false); err == nil {
		t.Fatal("token alive after revoke")
	}
	out, err = cli(t, "", "account", "list", "-data", data)
	if err != nil || !strings.Contains(out, "c1") || !strings.Contains(out, "op") {
		t.Fatalf("list via hub: %q %v", out, err)
	}
	if _, err := cli(t, "", "bogus"); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "-version"} {
		out, err := cli(t, "", arg)
		if err != nil || !strings.HasPrefix(out, "tether-hub dev (go") {
			t.Fatalf("%s: %q %v", arg, out, err)
		}
	}
}
