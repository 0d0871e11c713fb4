package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDeps keeps the firmware free of what only the hub and the demo need
// (issue 13): the hub, its TURN server, go-qrcode and the customer page are
// in cmd/tether-hub and cmd/tether-demo, never in tetherd. pion/turn/v5 is
// linked only as pion/ice's TURN client (relay candidates, the TURN
// fallback); no Tether package imports pion/turn itself. It also checks
// that no lower layer imports a higher one: gpio knows patterns, not the
// appliance's health states.
func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	pkgs := goListDeps(t, "tether/cmd/tetherd")
	forbidden := []string{
		"tether/signaling/hub",
		"github.com/skip2/go-qrcode",
		"github.com/pion/turn/v4",
		"github.com/pion/transport/v4",
	}
	for _, p := range pkgs {
		for _, f := range forbidden {
			if p.ImportPath == f || strings.HasPrefix(p.ImportPath, f+"/") {
				t.Errorf("tetherd links %s", p.ImportPath)
			}
		}
		if !strings.HasPrefix(p.ImportPath, "tether/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/pion/turn/") {
				t.Errorf("%s imports %s: only pion/ice may (the TURN client)", p.ImportPath, imp)
			}
			if strings.HasPrefix(p.ImportPath, "tether/gpio") && strings.HasPrefix(imp, "tether/appliance") {
				t.Errorf("%s imports %s: gpio plays patterns and knows no appliance state", p.ImportPath, imp)
			}
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

// goListDeps is `go list -deps -json pkg` for linux/arm64, the board the
// size matters on (build tags pick the same files on every Linux).
func goListDeps(t *testing.T, pkg string) []listedPackage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-json=ImportPath,Imports", pkg)
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestSignalingTestsStopAtTheProtocol: no test under signaling/ imports
// the appliance (issue 13). The whole-product tests live under
// internal/systest.
func TestSignalingTestsStopAtTheProtocol(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "tether/signaling/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		t.Fatalf("go list found only %d packages under signaling/", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == "tether/appliance" || strings.HasPrefix(imp, "tether/appliance/") {
				t.Errorf("a test of %s imports %s: whole-product tests belong in internal/systest", f[0], imp)
			}
		}
	}
}
