package setup

import (
	"bytes"
	"context"
	"crypto/tls"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net"
	"os"

	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/gpio"
	"tether/internal/testenv"
	"tether/media"
	"tether/signaling/socketio"
	"tether/store"
)

// testJPEG is a colour-bar picture for the preview.
func testJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 180))
	bars := []color.RGBA{{255, 255, 255, 255}, {255, 255, 0, 255}, {0, 255, 255, 255}, {0, 255, 0, 255}, {255, 0, 255, 255}, {255, 0, 0, 255}, {0, 0, 255, 255}}
	for x := range 320 {
		for y := range 180 {
			img.Set(x, y, bars[x*len(bars)/320])
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBrowserFlow drives the page in headless Chromium at a phone-sized
// viewport: choose the setup password, see "login needed", log in to the
// hub (fake Login), see the status turn ready, get a validation error, and
// take a screenshot (written to $SETUP_SCREENSHOT if set).
func TestBrowserFlow(t *testing.T) {
	exe := testenv.RequireChromium(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, err := health.New(health.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMem(store.Options{Logger: log, Argon2: testenv.KDF})
	term := gpio.NewTerminal(nil, false)
	term.Set(gpio.LEDLink, 0)
	term.Set(gpio.LEDStatus, 1)
	// The appliance is up but the hub refuses the session: login needed.
	tr.SetBooting(false)
	tr.ReportNetwork(health.NetworkStatus{State: health.NetworkUp, Detail: "eth0 192.0.2.7/24"})
	tr.ReportSocket(health.SocketStatus{State: socketio.SessionExpired, LastError: "session_expired"})
	tr.ReportMedia(health.FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK, Encoder: media.EncoderSoftware}))
	for _, e := range []store.Event{
		{Component: "socket", From: "connecting", To: "connected", Detail: "websocket"},
		{Component: "socket", From: "connected", To: "session_expired"},
	} {
		_ = st.AppendEvent(e)
	}

	var (
		loginMu    sync.Mutex
		loginCalls []string
	)
	login := func(ctx context.Context, hubURL, user, pass string) (store.Session, error) {
		loginMu.Lock()
		loginCalls = append(loginCalls, hubURL+" "+user)
		loginMu.Unlock()
		if pass != hubPW {
			return store.Session{}, ErrInvalidCredentials
		}
		sess := store.Session{Token: hubToken, ExpiresAt: time.Now().Add(24 * time.Hour), DeviceID: "dev-7", RoomID: "counter-3", HubURL: hubURL}
		return sess, st.SetSession(sess)
	}
	var feeder sync.WaitGroup
	defer feeder.Wait()
	onLogin := func() {
		// What the runtime does after a login: the socket resumes, the
		// peer joins the room, RTTs arrive.
		feeder.Go(func() {
			tr.ReportSocket(health.SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: 45 * time.Millisecond})
			tr.ReportPeer(health.PeerStatus{State: peer.Waiting, Path: peer.PathHost, RTT: 70 * time.Millisecond})
			term.Set(gpio.LEDLink, 1)
			term.Set(gpio.LEDStatus, 0)
			_ = st.AppendEvent(store.Event{Component: "socket", From: "session_expired", To: "connected", Detail: "websocket"})
			for i := range 8 {
				time.Sleep(50 * time.Millisecond) // spread the RTT points out in time for the chart
				tr.ReportSocket(health.SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: time.Duration(40+i*7%30) * time.Millisecond})
				tr.ReportPeer(health.PeerStatus{State: peer.Waiting, Path: peer.PathHost, RTT: time.Duration(65+i*13%50) * time.Millisecond})
			}
		})
	}
	ledTests := make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Over TLS with the device certificate, as tetherd serves it.
	cert, err := DeviceCert(st, "counter-7", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Health: tr, Store: st, Login: login, OnLogin: onLogin, Listener: ln, Logger: log,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}},
		LEDs:    term.LEDs,
		LEDTest: func() { ledTests <- struct{}{} },
		Restart: func(string) {},
		Preview: fakePreview{jpg: testJPEG(t)},
		Devices: func() Devices {
			return Devices{Cameras: []string{"/dev/video0", "test"}, Microphones: []string{"hw:1,0"}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srvCtx, stopSrv := context.WithCancel(ctx)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx) }()
	defer func() {
		stopSrv()
		if err := <-srvDone; err != nil {
			t.Error(err)
		}
	}()
	// The old plain-HTTP address: the page must come up on https:// by the
	// 308 (issue 12 item 9).
	base := "http://" + ln.Addr().String() + "/"

	// The self-signed certificate: a person compares its fingerprint
	// with the console; the test compares it with the page's below.
	opts := append(testenv.ChromiumOpts(exe, t.TempDir()), chromedp.Flag("ignore-certificate-errors", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelB := chromedp.NewContext(allocCtx)
	defer cancelB()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	waitJS := func(name, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", name, err)
		}
	}

	// shot saves a screenshot into $SETUP_SCREENSHOTS (default: a temp dir)
	// for a person to look at.
	shotDir := os.Getenv("SETUP_SCREENSHOTS")
	if shotDir == "" {
		shotDir = t.TempDir()
	}
	shot := func(name string, a chromedp.Action[[]byte]) {
		t.Helper()
		png, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shotDir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A phone: 390x844 CSS pixels at 2x, like a current mid-size phone.
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	step("open", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.ID("view-choose")))
	if loc, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href`)); err != nil || loc != "https://"+ln.Addr().String()+"/" {
		t.Fatalf("after opening %s the browser is at %q (%v), want the https:// page", base, loc, err)
	}
	if fp := text("#cert-fp"); fp != srv.Fingerprint() || fp == "" {
		t.Fatalf("the page shows certificate %q, the server's is %q", fp, srv.Fingerprint())
	}

	// First boot: choose the setup password (a too-short one first).
	step("short password",
		chromedp.SendKeys(chromedp.CSS(`#form-choose [name=password]`), "short"),
		chromedp.SendKeys(chromedp.CSS(`#form-choose [name=confirm]`), "short"),
		chromedp.Click(chromedp.CSS(`#form-choose button`)),
	)
	waitJS("the short-password error", `document.querySelector('#form-choose .err').textContent.includes('at least 8 characters')`)
	shot("choose-password", chromedp.CaptureScreenshot())
	step("choose password",
		chromedp.SetValue(chromedp.CSS(`#form-choose [name=password]`), setupPW),
		chromedp.SetValue(chromedp.CSS(`#form-choose [name=confirm]`), setupPW),
		chromedp.Click(chromedp.CSS(`#form-choose button`)),
		chromedp.WaitVisible(chromedp.ID("view-main")),
	)
	if set, _ := st.HasSetupPassword(); !set {
		t.Fatal("no password stored after choosing one in the browser")
	}

	// Login needed is shown prominently, with the live status.
	waitJS("login-needed status", `document.getElementById('st-overall').textContent === 'login-needed'`)
	step("login banner", chromedp.WaitVisible(chromedp.ID("banner-login")))
	waitJS("sim LEDs", `document.querySelectorAll('#leds .led').length === 2 && document.querySelector('#leds .led.red.on') !== null`)
	waitJS("event log", `document.querySelectorAll('#events li').length >= 2`)
	waitJS("preview", `document.getElementById('preview-img').naturalWidth === 320 && !document.getElementById('preview-img').hidden`)
	shot("login-needed", chromedp.CaptureScreenshot())

	// A wrong hub password gives a clear error.
	step("wrong hub password",
		chromedp.SetValue(chromedp.CSS(`#form-hub [name=hubUrl]`), "https://hub.example"),
		chromedp.SetValue(chromedp.CSS(`#form-hub [name=username]`), "counter3"),
		chromedp.SendKeys(chromedp.CSS(`#form-hub [name=password]`), "not-it"),
		chromedp.Click(chromedp.CSS(`#form-hub button`)),
	)
	waitJS("hub login error", `document.querySelector('#form-hub .err').textContent.includes('wrong username or password')`)

	// The right one: the status turns ready, the banner goes, a toast says so.
	// A toast lives 4.5 s; record every one shown so a slow machine that
	// reaches the check later still sees it was shown.
	step("record toasts", chromedp.Evaluate[chromedp.Void](`(() => {
	  window.toastsSeen = [];
	  new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => window.toastsSeen.push(n.textContent))))
	    .observe(document.getElementById('toasts'), {childList: true});
	})()`))
	step("hub login",
		chromedp.SendKeys(chromedp.CSS(`#form-hub [name=password]`), hubPW),
		chromedp.Click(chromedp.CSS(`#form-hub button`)),
	)
	waitJS("ready status", `document.getElementById('st-overall').textContent === 'ready'`)
	step("banner gone", chromedp.WaitNotVisible(chromedp.ID("banner-login")))
	waitJS("toast", `window.toastsSeen.some(t => t.includes('Logged in to the hub'))`)
	waitJS("LEDs follow", `document.querySelector('#leds .led.green.on') !== null`)
	waitJS("RTT chart", `document.querySelectorAll('#rtt-chart polyline').length === 2`)
	if got := text("#st-socket"); !strings.Contains(got, "connected") || !strings.Contains(got, "websocket") {
		t.Fatalf("socket status %q", got)
	}
	if pw, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(`#form-hub [name=password]`))); pw != "" {
		t.Fatal("the hub password stays in the form after the login")
	}
	loginMu.Lock()
	if len(loginCalls) != 2 || loginCalls[1] != "https://hub.example counter3" {
		t.Fatalf("Login calls %v", loginCalls)
	}
	loginMu.Unlock()

	// Settings: a bad bitrate is refused with a message, nothing stored.
	step("bad bitrate",
		chromedp.SetValue(chromedp.CSS(`#form-settings [name=bitrate]`), "5"),
		chromedp.SetValue(chromedp.CSS(`#form-settings [name=resolution]`), "1280x720"),
		chromedp.Click(chromedp.CSS(`#form-settings button`)),
	)
	waitJS("bitrate error", `document.querySelector('#form-settings .err').textContent.includes('Bitrate must be a whole number from 100 to 20000 kbit/s') && document.querySelector('#form-settings [name=bitrate]').getAttribute('aria-invalid') === 'true'`)
	if s, _ := st.Settings(); s.BitrateKbps != 0 || s.Width != 0 {
		t.Fatalf("settings stored despite the error: %+v", s)
	}
	// Issue 15's screen: a value tetherd would refuse is refused here.
	step("bad screen",
		chromedp.SetValue(chromedp.CSS(`#form-settings [name=bitrate]`), "2500"),
		chromedp.SetValue(chromedp.CSS(`#form-settings [name=display]`), "hdmi"),
		chromedp.Click(chromedp.CSS(`#form-settings button`)),
	)
	waitJS("screen error", `document.querySelector('#form-settings .err').textContent.includes('Screen must be auto, none or a device path') && document.querySelector('#form-settings [name=display]').getAttribute('aria-invalid') === 'true'`)
	step("good settings",
		chromedp.SetValue(chromedp.CSS(`#form-settings [name=display]`), "auto"),
		chromedp.SetValue(chromedp.CSS(`#form-settings [name=camera]`), "test"),
		chromedp.Click(chromedp.CSS(`#form-settings button`)),
	)
	waitJS("settings saved toast", `[...document.querySelectorAll('.toast')].some(t => t.textContent.includes('Settings saved'))`)
	if s, _ := st.Settings(); s.BitrateKbps != 2500 || s.Width != 1280 || s.Camera != "test" || s.HubURL != "https://hub.example" || s.Display != "auto" {
		t.Fatalf("stored settings %+v", s)
	}

	step("LED test", chromedp.Click(chromedp.ID("btn-led")))
	select {
	case <-ledTests:
	case <-time.After(10 * time.Second):
		t.Fatal("LED test button did not reach the LEDs")
	}

	// Scroll to the top and look at it at phone size.
	step("top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot("ready-full", chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	// The page must fit the phone: nothing wider than the viewport.
	waitJS("no horizontal overflow", `document.documentElement.scrollWidth <= window.innerWidth`)

	// The page never shows a secret.
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{setupPW, hubPW, hubToken} {
		if strings.Contains(html, secret) || strings.Contains(logs.String(), secret) {
			t.Fatalf("secret %q in the page or the log", secret)
		}
	}
}
