package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"tether/board/rig"
)

func TestReport(t *testing.T) {
	pass := rig.PackageResult{Name: "gpio", ImportPath: "tether/gpio", Exit: 0, Output: "PASS\n"}
	fail := rig.PackageResult{Name: "media", ImportPath: "tether/media", Exit: 1, Output: "--- FAIL: TestX\n"}
	tests := []struct {
		name  string
		res   *rig.Result
		err   error
		quiet bool
		code  int
		want  []string
		never []string
	}{
		{"all pass", &rig.Result{Arch: rig.X86_64, Packages: []rig.PackageResult{pass}, BootTime: 5 * time.Second},
			nil, false, 0, []string{"rig x86_64: kernel build cached", "boot 5s", "ok   tether/gpio (exit 0)"}, []string{"FAIL"}},
		{"one fails, quiet shows its output", &rig.Result{Arch: rig.ARM64, Packages: []rig.PackageResult{pass, fail}, KernelTime: 390 * time.Second},
			nil, true, 1, []string{"kernel build 6m30s", "FAIL tether/media (exit 1)", "--- FAIL: TestX"}, nil},
		{"one fails, streamed", &rig.Result{Packages: []rig.PackageResult{fail}}, nil, false, 1, []string{"FAIL tether/media"}, []string{"--- output"}},
		{"rig error", &rig.Result{}, errors.New("boom"), false, 2, nil, nil},
		{"no result", nil, errors.New("boom"), false, 2, nil, nil},
		{"no packages ran", &rig.Result{}, nil, false, 1, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := report(&out, tt.res, tt.err, tt.quiet); code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tt.never {
				if strings.Contains(out.String(), n) {
					t.Errorf("output has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
