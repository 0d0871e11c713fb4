package rig

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/build/constraint"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildTag is the build tag of tests meant to run inside the guest.
const BuildTag = "rig"

// testPkg is one package whose test binary runs in the guest.
type testPkg struct {
	ImportPath string
	Dir        string // absolute source directory
	Rel        string // directory relative to the module root
	Name       string // binary name: Rel with "/" → "_"
	Binary     string // host path of the built test binary
	HasRigTest bool   // some test file carries the rig build tag
}

// listTestPkgs resolves patterns (relative to modDir) with the rig tag
// set and returns the packages that have test files. With onlyRig, packages
// without a rig-tagged test file are left out.
func listTestPkgs(ctx context.Context, goTool, modDir string, patterns []string, onlyRig bool) ([]testPkg, error) {
	args := append([]string{"list", "-tags", BuildTag, "-json=ImportPath,Dir,Module,TestGoFiles,XTestGoFiles"}, patterns...)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = modDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("rig: go list %s: %w\n%s", strings.Join(patterns, " "), err, stderr.String())
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []testPkg
	for {
		var p struct {
			ImportPath, Dir           string
			Module                    *struct{ Path, Dir string }
			TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("rig: go list: %w", err)
		}
		files := append(append([]string{}, p.TestGoFiles...), p.XTestGoFiles...)
		if len(files) == 0 {
			continue
		}
		rel, err := filepath.Rel(modDir, p.Dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("rig: package %s is outside the module at %s", p.ImportPath, modDir)
		}
		tp := testPkg{ImportPath: p.ImportPath, Dir: p.Dir, Rel: filepath.ToSlash(rel)}
		tp.Name = strings.ReplaceAll(tp.Rel, "/", "_")
		if tp.Rel == "." {
			tp.Name = "root"
		}
		for _, f := range files {
			if hasBuildTag(filepath.Join(p.Dir, f), BuildTag) {
				tp.HasRigTest = true
				break
			}
		}
		if onlyRig && !tp.HasRigTest {
			continue
		}
		pkgs = append(pkgs, tp)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoTests, strings.Join(patterns, " "))
	}
	return pkgs, nil
}

// hasBuildTag reports whether the //go:build line of a Go file mentions tag.
func hasBuildTag(file, tag string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "package ") {
			return false
		}
		if !constraint.IsGoBuild(line) {
			continue
		}
		expr, err := constraint.Parse(line)
		if err != nil {
			return false
		}
		found := false
		expr.Eval(func(t string) bool {
			if t == tag {
				found = true
			}
			return true
		})
		return found
	}
	return false
}

// buildTestBinaries compiles each package's tests for the guest: static
// (CGO_ENABLED=0) linux binaries of the guest's GOARCH with the rig tag.
// With TETHER_RIG_CGO=1 they are built with cgo and linked statically
// against the target's Debian multiarch libraries (as `make dist` links
// tetherd), so rig tests tagged `rig && cgo` (the echo canceller through
// snd-aloop, issue 15) run too.
func buildTestBinaries(ctx context.Context, goTool, modDir, outDir, goarch string, pkgs []testPkg) error {
	for i := range pkgs {
		p := &pkgs[i]
		p.Binary = filepath.Join(outDir, p.Name+".test")
		args := []string{"test", "-c", "-tags", BuildTag, "-o", p.Binary}
		env := append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
		if os.Getenv("TETHER_RIG_CGO") == "1" {
			triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "arm": "arm-linux-gnueabihf"}[goarch]
			args = append(args, "-ldflags", `-linkmode external -extldflags "-static"`)
			env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "GOARM=7", "CGO_ENABLED=1",
				"CC="+triplet+"-gcc", "CXX="+triplet+"-g++",
				"PKG_CONFIG_LIBDIR=/usr/lib/"+triplet+"/pkgconfig:/usr/share/pkgconfig", "PKG_CONFIG_PATH=")
		}
		cmd := exec.CommandContext(ctx, goTool, append(args, p.ImportPath)...)
		cmd.Dir = modDir
		cmd.Env = env
		if err := runLogged(cmd); err != nil {
			return fmt.Errorf("rig: build tests of %s: %w", p.ImportPath, err)
		}
		if !fileExists(p.Binary) {
			return fmt.Errorf("rig: build tests of %s: no binary written", p.ImportPath)
		}
	}
	return nil
}
