package appliance

// What the appliance says about itself (issue 11 §4): the per-device
// states on every surface, the build fault, the metrics listener.

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"tether/appliance/health"
	"tether/board"
	"tether/gpio"
	"tether/internal/testenv"
)

// testApp builds an appliance on the sim board with the given flags, no
// hub session, no setup page and no metrics listener.
func testApp(t *testing.T, deps Deps, args ...string) *App {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterFlags(fs)
	base := []string{"-board", "sim", "-data", filepath.Join(t.TempDir(), "tetherd.db"), "-setup-addr", "", "-metrics-addr", "",
		"-width", "320", "-height", "180", "-fps", "15", "-bitrate", "300"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	cfg, err := Resolve(fs, func(string) string { return "" }, func(string) ([]byte, error) { return nil, os.ErrNotExist }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// runApp runs a until the test ends.
func runApp(t *testing.T, a *App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of cancel")
		}
	})
}

func waitState(t *testing.T, a *App, want health.State) health.Snapshot {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s := a.Health().Snapshot(); s.Overall == want {
			return s
		}
	}
	s := a.Health().Snapshot()
	t.Fatalf("overall %v (%s), want %v", s.Overall, s.Reason, want)
	return s
}

type syncBuffer = testenv.SyncBuffer

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestMissingCameraIsVisible is issue 11's first finding: a camera missing
// at start-up used to be replaced by the test pattern with health OK. Now
// every surface says no-camera: health, the LED code, the console line,
// device:status, the metric; the test pattern does not run.
func TestMissingCameraIsVisible(t *testing.T) {
	serial := &syncBuffer{}
	a := testApp(t, Deps{}, "-camera", filepath.Join(t.TempDir(), "video-none"), "-mic", "test", "-console", "-")
	a.deps.Extras = DefaultExtras(a.cfg, strings.NewReader(""), serial)
	runApp(t, a)
	snap := waitState(t, a, health.StateNoCamera)
	if !strings.Contains(snap.Reason, "camera missing") {
		t.Fatalf("reason %q", snap.Reason)
	}
	// The LEDs: link slow blink, status one flash (docs/leds.md).
	look := DefaultLEDScheme()[health.StateNoCamera]
	if look.Link.Name != gpio.SlowBlink.Name || look.Status.Name != gpio.Flashes(1).Name {
		t.Fatalf("LED look %v/%v", look.Link, look.Status)
	}
	// The serial console says so, by device.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(serial.String(), "no-camera (camera missing"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("console never said no-camera:\n%s", serial.String())
		}
	}
	// device:status carries each device (health is fed every 2 s: the
	// mic may still say starting at first).
	var ds struct {
		Overall string `json:"overall"`
		Media   struct {
			Camera, Mic, Encoder string
		} `json:"media"`
	}
	for deadline := time.Now().Add(10 * time.Second); ds.Media.Mic != "test source"; time.Sleep(50 * time.Millisecond) {
		b, _ := json.Marshal(a.deviceStatus())
		if err := json.Unmarshal(b, &ds); err != nil || ds.Overall != "no-camera" || ds.Media.Camera != "missing" || time.Now().After(deadline) {
			t.Fatalf("device:status %s", b)
		}
	}
	// The metrics.
	h := a.MetricsHandler()
	_, body := get(t, h, "/metrics")
	for _, want := range []string{
		`tether_media_device_up{device="camera"} 0`,
		`tether_media_device_up{device="mic"} 1`,
		`tether_state{state="no-camera"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Nothing stands in for the camera.
	if st := a.MediaStatus(); st.Frames != 0 {
		t.Fatalf("%d frames sent without a camera (test pattern?)", st.Frames)
	}
}

// TestMetricsListener: /metrics, /healthz (200 unless fault, state in the
// body), 404 elsewhere; the names pass promlint; Go and process collectors
// and tether_build_info are there.
func TestMetricsListener(t *testing.T) {
	a := testApp(t, Deps{}, "-camera", "test", "-mic", "test")
	h := a.MetricsHandler()

	code, body := get(t, h, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{"go_goroutines ", "process_start_time_seconds ", `tether_build_info{goversion="`,
		"tether_peer_send_bytes_per_second ", "tether_media_target_bytes_per_second ", "tether_peer_loss_ratio ", "tether_media_frames_per_second "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, old := range []string{"_bps ", "_fps ", "fraction_lost", "tether_uptime_seconds"} {
		if strings.Contains(body, old) {
			t.Errorf("/metrics still has a name with %q", old)
		}
	}
	for _, p := range []string{"/", "/metricsx", "/healthz/x", "/debug/pprof/"} {
		if code, _ := get(t, h, p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}

	// Booting is not a fault: 200 with the state.
	if code, body := get(t, h, "/healthz"); code != 200 || !strings.HasPrefix(body, "booting (") {
		t.Fatalf("/healthz while booting: %d %q", code, body)
	}
	a.Health().SetFault("this build has no Opus encoder")
	if code, body := get(t, h, "/healthz"); code != http.StatusServiceUnavailable || body != "fault (this build has no Opus encoder)\n" {
		t.Fatalf("/healthz in fault: %d %q", code, body)
	}
	a.Health().SetFault("")
	a.Health().SetBooting(false)
	if code, body := get(t, h, "/healthz"); code != 200 || strings.HasPrefix(body, "fault") {
		t.Fatalf("/healthz after the fault cleared: %d %q", code, body)
	}
}

// TestMetricNamesLint runs prometheus's own linter over every metric the
// appliance registers.
func TestMetricNamesLint(t *testing.T) {
	a := testApp(t, Deps{}, "-camera", "test", "-mic", "test")
	problems, err := testutil.GatherAndLint(a.metricsRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestBuildWithoutSoftwareEncodersIsAFault: a cgo-off build (acted here
// with Deps.WithoutSoftwareEncoders, so it runs in the normal build) has no
// Opus and no openh264. At start-up that is a logged cause, a health fault
// (LEDs: fault), and the console line, not a silent "audio off".
func TestBuildWithoutSoftwareEncodersIsAFault(t *testing.T) {
	logs, serial := &syncBuffer{}, &syncBuffer{}
	a := testApp(t, Deps{WithoutSoftwareEncoders: true, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		"-camera", "test", "-mic", "test", "-console", "-")
	a.deps.Extras = DefaultExtras(a.cfg, strings.NewReader(""), serial)
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "CGO_ENABLED=0") {
		t.Fatalf("no start-up line naming the cause:\n%s", logs.String())
	}
	snap := a.Health().Snapshot()
	if snap.Overall != health.StateFault || !strings.Contains(snap.Reason, "no audio") || !strings.Contains(snap.Reason, "board sim") {
		t.Fatalf("health %v (%s)", snap.Overall, snap.Reason)
	}
	runApp(t, a)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(serial.String(), "fault (built without software encoders"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("console never showed the fault:\n%s", serial.String())
		}
	}
	// The pipeline agrees: audio off, no software video.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ms := a.MediaStatus()
		if ms.Mic.String() == "off" && ms.EncoderError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("media status %+v", ms)
		}
	}
	if code, _ := get(t, a.MetricsHandler(), "/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz %d in a build fault", code)
	}
}

func TestBuildFault(t *testing.T) {
	for _, tc := range []struct {
		board string
		sw    bool
		want  []string // substrings; none = no fault
	}{
		{"rpi4b", true, nil},
		{"rpi5", true, nil},
		{"rpi4b", false, []string{"no audio"}},            // hardware H.264 still works
		{"rpi5", false, []string{"no audio", "no video"}}, // needs openh264
		{"generic", false, []string{"no audio", "no video"}},
	} {
		p, err := board.Lookup(tc.board)
		if err != nil {
			t.Fatal(err)
		}
		got := buildFault(p, tc.sw)
		if (got == "") != (tc.want == nil) {
			t.Errorf("%s sw=%v: %q", tc.board, tc.sw, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s sw=%v: %q lacks %q", tc.board, tc.sw, got, w)
			}
		}
		if tc.board == "rpi4b" && strings.Contains(got, "no video") {
			t.Errorf("rpi4b has a hardware encoder: %q", got)
		}
	}
}
