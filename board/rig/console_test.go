package rig

import (
	"strings"
	"testing"
)

const sampleConsole = "[    0.000000] Linux version 6.1.0\r\n" +
	"RIG-INIT arch=x86_64 kernel=6.1.192 cpus=2\r\n" +
	"RIG-BEGIN pkg=board_rig\r\n" +
	"=== RUN   TestGuestVividCapture\r\n" +
	"--- PASS: TestGuestVividCapture (0.01s)\r\n" +
	"PASS\r\n" +
	"\r\n" +
	"RIG-RESULT pkg=board_rig exit=0\r\n" +
	"RIG-BEGIN pkg=gpio\r\n" +
	"--- FAIL: TestLED (0.00s)\r\n" +
	"\r\n" +
	"RIG-RESULT pkg=gpio exit=1\r\n" +
	"RIG-DONE\r\n" +
	"[    9.1] reboot: Restarting system\r\n"

func TestParseConsole(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		done     bool
		results  []PackageResult
		initSeen string
	}{
		{
			name: "two binaries", in: sampleConsole, done: true, initSeen: "arch=x86_64 kernel=6.1.192 cpus=2",
			results: []PackageResult{
				{Name: "board_rig", Exit: 0, Output: "=== RUN   TestGuestVividCapture\n--- PASS: TestGuestVividCapture (0.01s)\nPASS\n"},
				{Name: "gpio", Exit: 1, Output: "--- FAIL: TestLED (0.00s)\n"},
			},
		},
		{
			name: "guest died mid-binary", in: "RIG-INIT arch=aarch64\nRIG-BEGIN pkg=media\n=== RUN   TestX\nKernel panic\n",
			initSeen: "arch=aarch64",
			results:  []PackageResult{{Name: "media", Exit: -1, Output: "=== RUN   TestX\nKernel panic\n"}},
		},
		{
			name: "result without begin", in: "RIG-RESULT pkg=x exit=3\nRIG-DONE\n", done: true,
			results: []PackageResult{{Name: "x", Exit: 3, Output: "\n"}},
		},
		{
			name: "garbled exit", in: "RIG-BEGIN pkg=x\nRIG-RESULT pkg=x exit=?\n",
			results: []PackageResult{{Name: "x", Exit: -1, Output: "\n"}},
		},
		{name: "nothing", in: "", results: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ParseConsole(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Done != tt.done {
				t.Errorf("Done = %v, want %v", rep.Done, tt.done)
			}
			if rep.Init != tt.initSeen {
				t.Errorf("Init = %q, want %q", rep.Init, tt.initSeen)
			}
			if len(rep.Packages) != len(tt.results) {
				t.Fatalf("%d results, want %d: %+v", len(rep.Packages), len(tt.results), rep.Packages)
			}
			for i, want := range tt.results {
				if got := rep.Packages[i]; got != want {
					t.Errorf("result %d = %+v, want %+v", i, got, want)
				}
			}
			if strings.Contains(rep.Console, "\r") {
				t.Error("console keeps carriage returns")
			}
		})
	}
}

func FuzzParseConsole(f *testing.F) {
	f.Add(sampleConsole)
	f.Add("RIG-BEGIN pkg=a\nRIG-BEGIN pkg=b\nRIG-RESULT pkg=a exit=1\n")
	f.Add("RIG-RESULT exit=99999999999999999999\nRIG-DONE x\n")
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := ParseConsole(strings.NewReader(in))
		if err != nil {
			return // a line over the scanner's limit
		}
		begins := strings.Count(in, "RIG-BEGIN")
		results := strings.Count(in, "RIG-RESULT")
		if len(rep.Packages) > begins+results {
			t.Fatalf("%d packages from %d begins and %d results", len(rep.Packages), begins, results)
		}
		for _, p := range rep.Packages {
			if p.Passed() && !strings.Contains(in, "exit=0") {
				t.Fatalf("package %q passed without an exit=0 in the input", p.Name)
			}
		}
	})
}
