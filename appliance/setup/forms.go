package setup

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Form limits. Every decoder below rejects a bad value with a *FieldError
// naming the field, and the handler then stores nothing.
const (
	minSetupPassword = 8   // characters
	maxSetupPassword = 128 // characters
	maxHubPassword   = 1024
	maxUsername      = 128
	maxHubURL        = 512
	maxRoom          = 128
	maxDevice        = 256
	minWidth, maxW   = 160, 1920
	minHeight, maxH  = 120, 1080
	minFPS, maxFPS   = 1, 60
	// Bitrate bounds in kbit/s: below 100 the picture is useless; 20 Mbit/s
	// is above what the Pi's H.264 block sustains at 1080p30.
	minBitrate, maxBitrate = 100, 20000
)

// field returns the single value of key; a key given twice is an error so
// that no two parts of the code can disagree about which one counts.
func field(v url.Values, key string) (string, error) {
	vals := v[key]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		if !utf8.ValidString(vals[0]) {
			return "", fieldErr(key, "is not valid UTF-8")
		}
		return vals[0], nil
	}
	return "", fieldErr(key, "was given more than once")
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) }) >= 0
}

// checkSetupPassword applies the setup password policy.
func checkSetupPassword(key, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < minSetupPassword:
		return fieldErr(key, fmt.Sprintf("must be at least %d characters", minSetupPassword))
	case n > maxSetupPassword:
		return fieldErr(key, fmt.Sprintf("must be at most %d characters", maxSetupPassword))
	case strings.TrimSpace(pw) == "":
		return fieldErr(key, "must not be only spaces")
	case hasControl(pw):
		return fieldErr(key, "must not contain control characters")
	}
	return nil
}

// decodeChoosePassword reads the first-boot form: password and confirm.
func decodeChoosePassword(v url.Values) (string, error) {
	pw, err := field(v, "password")
	if err != nil {
		return "", err
	}
	confirm, err := field(v, "confirm")
	if err != nil {
		return "", err
	}
	if err := checkSetupPassword("password", pw); err != nil {
		return "", err
	}
	if confirm != pw {
		return "", fieldErr("confirm", "does not match the password")
	}
	return pw, nil
}

// decodeLogin reads the setup-page login form.
func decodeLogin(v url.Values) (string, error) {
	pw, err := field(v, "password")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", fieldErr("password", "is required")
	}
	if len(pw) > 4*maxSetupPassword {
		return "", fieldErr("password", "is too long")
	}
	return pw, nil
}

// hubLoginForm is the hub login: the password is passed to Login and
// dropped; it is never stored or logged.
type hubLoginForm struct {
	HubURL   string
	Username string
	Password string
}

func decodeHubLogin(v url.Values) (hubLoginForm, error) {
	var f hubLoginForm
	var err error
	raw, err := field(v, "hubUrl")
	if err != nil {
		return f, err
	}
	if f.HubURL, err = checkHubURL("hubUrl", raw, true); err != nil {
		return f, err
	}
	if f.Username, err = field(v, "username"); err != nil {
		return f, err
	}
	f.Username = strings.TrimSpace(f.Username)
	switch {
	case f.Username == "":
		return f, fieldErr("username", "is required")
	case len(f.Username) > maxUsername:
		return f, fieldErr("username", fmt.Sprintf("must be at most %d bytes", maxUsername))
	case hasControl(f.Username):
		return f, fieldErr("username", "must not contain control characters")
	}
	if f.Password, err = field(v, "password"); err != nil {
		return f, err
	}
	switch {
	case f.Password == "":
		return f, fieldErr("password", "is required")
	case len(f.Password) > maxHubPassword:
		return f, fieldErr("password", fmt.Sprintf("must be at most %d bytes", maxHubPassword))
	}
	return f, nil
}

// checkHubURL accepts an absolute http(s) URL without credentials, query or
// fragment (credentials in the URL would be stored in the settings), and
// returns it without a trailing slash.
func checkHubURL(key, raw string, required bool) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		if required {
			return "", fieldErr(key, "is required")
		}
		return "", nil
	}
	if len(s) > maxHubURL || hasControl(s) || strings.ContainsAny(s, " \t") {
		return "", fieldErr(key, "is not a valid URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fieldErr(key, "is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fieldErr(key, "must start with https:// (or http://)")
	case u.Host == "" || u.Hostname() == "":
		return "", fieldErr(key, "must name a host")
	case u.User != nil:
		return "", fieldErr(key, "must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "", fieldErr(key, "must not have a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fieldErr(key, "has a bad port")
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// settingsForm is the settings section. Zero means "not set here": the
// lower configuration layers (board profile, defaults) apply.
type settingsForm struct {
	HubURL      string
	Room        string
	Camera      string
	Microphone  string
	Speaker     string // ALSA playback device or card name, "none" (issue 15)
	Volume      int    // speaker volume, 1..100 percent; 0 unset
	Display     string // "auto", "none" or a /dev/dri card path; "" unset (issue 15)
	Width       int
	Height      int
	FPS         int
	BitrateKbps int
}

// decodeSettings reads and validates the settings form. dev, if it lists
// devices, restricts camera and microphone to them.
func decodeSettings(v url.Values, dev Devices) (settingsForm, error) {
	var f settingsForm
	get := func(k string) (string, error) {
		s, err := field(v, k)
		return strings.TrimSpace(s), err
	}
	raw, err := get("hubUrl")
	if err != nil {
		return f, err
	}
	if f.HubURL, err = checkHubURL("hubUrl", raw, false); err != nil {
		return f, err
	}
	if f.Room, err = get("room"); err != nil {
		return f, err
	}
	if len(f.Room) > maxRoom || strings.IndexFunc(f.Room, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return f, fieldErr("room", fmt.Sprintf("must be at most %d characters without spaces", maxRoom))
	}
	if f.Camera, err = checkDevice(get, "camera", dev.Cameras); err != nil {
		return f, err
	}
	if f.Microphone, err = checkDevice(get, "microphone", dev.Microphones); err != nil {
		return f, err
	}
	if f.Speaker, err = checkDevice(get, "speaker", nil); err != nil {
		return f, err
	}
	if f.Volume, err = intField(get, "volume", 1, 100, "%"); err != nil {
		return f, err
	}
	// The values tetherd's display setting takes on a real counter
	// (appliance.Resolve also takes "test", the sim board's).
	if f.Display, err = checkDevice(get, "display", nil); err != nil {
		return f, err
	}
	if d := f.Display; d != "" && d != "auto" && d != "none" && !strings.HasPrefix(d, "/dev/") {
		return f, fieldErr("display", "must be auto, none or a device path such as /dev/dri/card1")
	}
	res, err := get("resolution")
	if err != nil {
		return f, err
	}
	if res != "" {
		w, h, ok := strings.Cut(strings.ToLower(res), "x")
		f.Width, _ = atoiStrict(w)
		f.Height, _ = atoiStrict(h)
		if !ok || f.Width < minWidth || f.Width > maxW || f.Height < minHeight || f.Height > maxH {
			return f, fieldErr("resolution", fmt.Sprintf("must be WIDTHxHEIGHT between %dx%d and %dx%d", minWidth, minHeight, maxW, maxH))
		}
		if f.Width%2 != 0 || f.Height%2 != 0 {
			// H.264 4:2:0 needs even dimensions.
			return f, fieldErr("resolution", "width and height must be even")
		}
	}
	if f.FPS, err = intField(get, "fps", minFPS, maxFPS, "frames/s"); err != nil {
		return f, err
	}
	if f.BitrateKbps, err = intField(get, "bitrate", minBitrate, maxBitrate, "kbit/s"); err != nil {
		return f, err
	}
	return f, nil
}

func checkDevice(get func(string) (string, error), key string, allowed []string) (string, error) {
	s, err := get(key)
	if err != nil || s == "" {
		return s, err
	}
	if len(s) > maxDevice || hasControl(s) {
		return "", fieldErr(key, fmt.Sprintf("must be at most %d characters", maxDevice))
	}
	if len(allowed) > 0 && !slices.Contains(allowed, s) {
		return "", fieldErr(key, "is not one of the devices found")
	}
	return s, nil
}

func intField(get func(string) (string, error), key string, lo, hi int, unit string) (int, error) {
	s, err := get(key)
	if err != nil || s == "" {
		return 0, err
	}
	n, ok := atoiStrict(s)
	if !ok || n < lo || n > hi {
		return 0, fieldErr(key, fmt.Sprintf("must be a whole number from %d to %d %s", lo, hi, unit))
	}
	return n, nil
}

// atoiStrict accepts 1 to 6 ASCII digits only (no sign, no spaces).
func atoiStrict(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
