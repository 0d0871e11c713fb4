package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath returns the Chromium (or Chrome) binary on PATH, or "".
func ChromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// RequireChromium skips t when no Chromium is installed (CI installs
// Debian's chromium) or under -short, and returns its path.
func RequireChromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting Chromium")
	}
	p := ChromiumPath()
	if p == "" {
		t.Skip("chromium not installed (apt-get install chromium; CI installs it)")
	}
	return p
}

// ChromiumOpts are a customer browser's options: bin (Chromium, or a
// netns.Wrapper around it) headless with its profile under dir, a
// phone-sized window, fake camera and microphone always allowed, no
// background work, autoplay, and host candidates as plain addresses (no
// mDNS names) so a Go peer can reach them.
func ChromiumOpts(bin, dir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(500, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-features", "Translate,WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints"),
	}
}
