package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// npmTimeout bounds one `npm ci`.
const npmTimeout = 5 * time.Minute

// ModulesFresh reports whether dir's node_modules was installed from its
// package-lock.json as it is now (the Makefile's `npm` target uses the
// same rule).
func ModulesFresh(dir string) bool {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	inst, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !inst.ModTime().Before(lock.ModTime())
}

// NPMInstall runs `npm ci` in dir when its node_modules is missing or
// older than the lockfile, under a cross-process file lock so test
// binaries of several packages do not install at once. The error says
// what to run by hand.
func NPMInstall(dir string) error {
	unlock, err := LockFile(filepath.Join(os.TempDir(), "tether-npm.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if ModulesFresh(dir) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("testenv: node_modules missing or stale in %s and npm not found: run `make npm`", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: npm ci in %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}
