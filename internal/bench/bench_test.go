package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkNetnsICERestart-2   	       3	 123 ns/op	      2100 chromium_detect_ms	       812.5 pion_detect_ms
BenchmarkAttack/slowloris-2  	       1	         0 ns/op	         0 device-drops	        0.5 device-off-s
PASS`
	m := parseBench(out)
	for k, want := range map[string]float64{"chromium_detect_ms": 2100, "pion_detect_ms": 812.5, "slowloris/device-drops": 0, "slowloris/device-off-s": 0.5} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
}

func TestLogTime(t *testing.T) {
	l := `time=2026-12-03T12:38:22.889Z level=INFO msg="joined room" component=signaling room=counter-bench`
	if got := logTime(l); !got.Equal(time.Date(2026, 12, 3, 12, 38, 22, 889e6, time.UTC)) {
		t.Fatalf("logTime = %v", got)
	}
	if !logTime("no time here").IsZero() {
		t.Fatal("a line without time= has a time")
	}
}

// TestReport: the ratio is Tether's median over the baseline's, faults
// not run are neither recovered nor failed, and the JSON round-trips.
func TestReport(t *testing.T) {
	r := &Report{Command: "tether-bench -short", Started: time.Unix(0, 0)}
	r.add(Row{Metric: "reconnect", Unit: "ms", Claim: "2–3 s", Baseline: stat([]float64{2000, 1000, 3000}), Tether: stat([]float64{200, 100, 300})})
	r.add(Row{Metric: "no baseline", Unit: "ms", Tether: stat([]float64{5})})
	r.Faults = []FaultRow{{Fault: "hub | kill", Recovered: true, RecoverMs: 1500, Lost: "none"}, {Fault: "delay", Lost: "not run: no netem"}}
	if r.Rows[0].Ratio != 0.1 || r.Rows[1].Ratio != 0 {
		t.Fatalf("ratios %v %v", r.Rows[0].Ratio, r.Rows[1].Ratio)
	}
	var md bytes.Buffer
	r.Markdown(&md)
	for _, want := range []string{"| reconnect (ms) | 2–3 s | 2000 (p95 3000, n=3) | 200 (p95 300, n=3) | 0.10 |", `| hub \| kill | yes | 1.50 s | none |`, "| delay | – | – | not run: no netem |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := r.JSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Rows[0].Tether.Median != 200 {
		t.Fatalf("json: %v %+v", err, back.Rows)
	}
}

// TestStepRecoversFatal: the testing.TB of a program turns Fatal and Skip
// into errors and runs cleanups last first, once.
func TestStepRecoversFatal(t *testing.T) {
	var out bytes.Buffer
	b := newTB(t.Context(), &out, false)
	var order []int
	b.Cleanup(func() { order = append(order, 1) })
	b.Cleanup(func() { order = append(order, 2) })
	if err := step(func() { b.Fatalf("boom %d", 7) }); err == nil || err.Error() != "boom 7" {
		t.Fatalf("Fatal: %v", err)
	}
	if err := step(func() { b.Skip("no node") }); err == nil || !strings.Contains(err.Error(), "skipped") {
		t.Fatalf("Skip: %v", err)
	}
	b.close()
	b.close()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Fatalf("cleanup order %v", order)
	}
}
