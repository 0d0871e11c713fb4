package appliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"tether/board"
	"tether/store"
)

// ErrConfig reports a setting that cannot be used; the message names the
// setting and the layer it came from.
var ErrConfig = errors.New("config")

// Config is the appliance's configuration after layering (house style
// point 7): code defaults → board profile → stored settings → config file →
// environment (TETHER_*) → flags. It is validated once, in Resolve.
type Config struct {
	HubURL      string        // hub: the hub's base URL
	RoomID      string        // room: overrides the room from session:verify
	DataPath    string        // data: the bbolt file
	Board       string        // board: profile name, or "" to detect
	SetupAddr   string        // setup-addr: listen address of the setup page ("" disables)
	MetricsAddr string        // metrics-addr: Prometheus /metrics listen address ("" disables)
	Console     string        // console: tty for the status line, "-" for stdout, "" for none
	Camera      string        // camera: V4L2 capture device, "test" for the test pattern
	Microphone  string        // mic: ALSA device, "test" for the test tone
	Speaker     string        // speaker: ALSA playback device or card name, "test" for a discarding sink, "none" for no speaker
	Volume      int           // volume: speaker volume in percent
	Display     string        // display: "auto", "none" or a DRM card path (issue 15)
	Width       int           // width
	Height      int           // height
	FPS         int           // fps
	BitrateKbps int           // bitrate: kbit/s
	CAFile      string        // ca-file: PEM CA for a private hub
	Stuck       time.Duration // stuck-timeout: no progress for this long → self-restart
	LogLevel    string        // log-level: debug, info, warn, error

	Profile board.Profile     // the resolved board profile
	Sources map[string]string // setting → the layer that set it, for messages
}

// setting describes one configurable value: its flag's type and its code
// default ("" when the board profile or nothing sets it).
type setting struct {
	name, help string
	kind       kind
	def        string
}

type kind int

const (
	kindString kind = iota
	kindInt
	kindDuration
)

var settings = []setting{
	{"hub", "hub base URL (http or https)", kindString, ""},
	{"room", "room id (default: the one session:verify gives)", kindString, ""},
	{"data", "bbolt state file", kindString, "/var/lib/tether/tetherd.db"},
	{"board", "board profile: " + strings.Join(board.Names(), ", ") + " (default: detect)", kindString, ""},
	{"setup-addr", "setup page listen address, HTTPS with the device certificate; plain HTTP there redirects (empty disables)", kindString, ":8080"},
	{"metrics-addr", "listen address of /metrics and /healthz (empty disables)", kindString, "127.0.0.1:9101"},
	{"console", "serial console tty (115200 8N1) for status lines and commands, - for stdout, empty for none (default: the board's UART, /dev/serial0 on a Pi)", kindString, ""},
	{"camera", "V4L2 capture device, or test for the test pattern (default: the board's)", kindString, ""},
	{"mic", "ALSA capture device or card name, or test for the test tone (default: the board's)", kindString, ""},
	{"speaker", "ALSA playback device or card name for the customer's voice, test for a paced sink that discards it, or none (default: the board's)", kindString, ""},
	{"volume", "speaker volume in percent, 0 to 100", kindInt, "80"},
	{"display", "screen for the customer's video: auto (first DRM card with a connected output; none connected is no fault), none (no decoding at all), test (a screen in memory: the sim board), or a card such as /dev/dri/card1 (expected: missing is the no-display state) (default: the board's, else none)", kindString, ""},
	{"width", "video width (default: the board's)", kindInt, ""},
	{"height", "video height (default: the board's)", kindInt, ""},
	{"fps", "video frame rate (default: the board's)", kindInt, ""},
	{"bitrate", "video bitrate in kbit/s (default: the board's)", kindInt, ""},
	{"ca-file", "PEM file with the CA of a private hub", kindString, ""},
	{"stuck-timeout", "restart the process when nothing progresses for this long", kindDuration, "10m"},
	{"log-level", "debug, info, warn or error (SIGHUP re-reads it)", kindString, "info"},
}

func defaults() map[string]string {
	m := map[string]string{}
	for _, s := range settings {
		if s.def != "" {
			m[s.name] = s.def
		}
	}
	m["console"] = "" // set by the board, or nobody
	return m
}

// RegisterFlags defines one typed flag per setting on fs, with the code
// default -h shows. Resolve reads only the flags that were given, so a
// flag left out never hides a lower layer (board, stored, file,
// environment).
func RegisterFlags(fs *flag.FlagSet) {
	for _, s := range settings {
		switch s.kind {
		case kindInt:
			n, _ := strconv.Atoi(s.def)
			fs.Int(s.name, n, s.help)
		case kindDuration:
			d, _ := time.ParseDuration(s.def)
			fs.Duration(s.name, d, s.help)
		default:
			fs.String(s.name, s.def, s.help)
		}
	}
}

// ConfigFile is the default config file; -config or TETHER_CONFIG replace it.
const ConfigFile = "/etc/tether/tetherd.json"

// Resolve layers the configuration. getenv reads the environment; readFile
// reads the config file (a missing default file is fine, a missing named one
// is not); openStore returns the stored settings for the resolved data path
// (nil skips that layer).
func Resolve(fs *flag.FlagSet, getenv func(string) string, readFile func(string) ([]byte, error),
	storedSettings func(dataPath string) (store.Settings, error), detect func() (board.Profile, error)) (Config, error) {
	vals := defaults()
	src := map[string]string{}
	for k := range vals {
		src[k] = "default"
	}
	set := func(layer string, m map[string]string) {
		for k, v := range m {
			vals[k], src[k] = v, layer
		}
	}

	// The file, environment and flags are read first because they decide
	// the board and the data file; they are applied again after the board
	// and the store so that they win.
	file, fileVals, err := fileLayer(fs, getenv, readFile)
	if err != nil {
		return Config{}, err
	}
	envVals, flagVals := envLayer(getenv), flagLayer(fs)
	pre := merged(vals, fileVals, envVals, flagVals)

	prof, err := resolveBoard(pre["board"], detect)
	if err != nil {
		return Config{}, err
	}
	set("board profile "+prof.Name, profileValues(prof))
	// Stored settings (the setup page writes them).
	if storedSettings != nil {
		st, err := storedSettings(pre["data"])
		if err != nil {
			return Config{}, fmt.Errorf("%w: stored settings in %s: %v", ErrConfig, pre["data"], err)
		}
		set("stored settings", storedValues(st))
	}
	set("file "+file, fileVals)
	set("environment", envVals)
	set("flag", flagVals)

	c := Config{Profile: prof, Sources: src}
	return c, c.parse(vals)
}

// fileLayer reads the config file: -config, else TETHER_CONFIG, else
// ConfigFile (which may be missing). A null value sets nothing.
func fileLayer(fs *flag.FlagSet, getenv func(string) string, readFile func(string) ([]byte, error)) (string, map[string]string, error) {
	file := getenv("TETHER_CONFIG")
	named := file != ""
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		file, named = f.Value.String(), true
	}
	if file == "" {
		file = ConfigFile
	}
	vals := map[string]string{}
	b, err := readFile(file)
	if err != nil {
		if named || !errors.Is(err, os.ErrNotExist) {
			return file, nil, fmt.Errorf("%w: file %s: %s", ErrConfig, file, fileProblem(nil, err))
		}
		return file, vals, nil
	}
	var raw map[string]any
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}") // an empty file sets nothing
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return file, nil, fmt.Errorf("%w: file %s: %s", ErrConfig, file, fileProblem(b, err))
	}
	if why := unknownKeys(raw); why != "" {
		return file, nil, fmt.Errorf("%w: file %s: %s", ErrConfig, file, why)
	}
	for k, v := range raw {
		if v == nil {
			continue // null: left to the layers below (the shipped example lists every setting this way)
		}
		vals[k] = fmt.Sprint(v)
	}
	return file, vals, nil
}

// envLayer is every TETHER_<SETTING> that is set.
func envLayer(getenv func(string) string) map[string]string {
	vals := map[string]string{}
	for _, s := range settings {
		key := "TETHER_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
		if v := getenv(key); v != "" {
			vals[s.name] = v
		}
	}
	return vals
}

// flagLayer is every setting given as a flag (a flag left out never hides
// a lower layer).
func flagLayer(fs *flag.FlagSet) map[string]string {
	vals := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if known(f.Name) {
			vals[f.Name] = f.Value.String()
		}
	})
	return vals
}

// merged is the layers applied in order, later ones winning.
func merged(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range layers {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// resolveBoard is the named profile, else the detected one, else generic.
func resolveBoard(name string, detect func() (board.Profile, error)) (board.Profile, error) {
	switch {
	case name != "":
		prof, err := board.Lookup(name)
		if err != nil {
			return prof, fmt.Errorf("%w: board %q: %v", ErrConfig, name, err)
		}
		return prof, nil
	case detect != nil:
		prof, err := detect()
		if err != nil {
			return prof, fmt.Errorf("%w: board detection: %v", ErrConfig, err)
		}
		return prof, nil
	}
	return board.Lookup(board.NameGeneric)
}

func known(name string) bool {
	for _, s := range settings {
		if s.name == name {
			return true
		}
	}
	return false
}

func profileValues(p board.Profile) map[string]string {
	m := map[string]string{"board": p.Name}
	if p.Console != "" {
		m["console"] = p.Console
	}
	if p.Camera.Device != "" {
		m["camera"] = p.Camera.Device
	}
	if p.Display.Device != "" {
		m["display"] = p.Display.Device
	}
	if p.Video.Width > 0 {
		m["width"] = strconv.Itoa(p.Video.Width)
		m["height"] = strconv.Itoa(p.Video.Height)
	}
	if p.Video.FPS > 0 {
		m["fps"] = strconv.Itoa(p.Video.FPS)
	}
	if p.Video.BitrateKbps > 0 {
		m["bitrate"] = strconv.Itoa(p.Video.BitrateKbps)
	}
	if p.TestSources {
		m["camera"], m["mic"] = "test", "test"
		m["speaker"] = "none" // no sound card: no speaker expected
	}
	return m
}

func storedValues(s store.Settings) map[string]string {
	m := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("hub", s.HubURL)
	put("room", s.RoomID)
	put("camera", s.Camera)
	put("mic", s.Microphone)
	put("speaker", s.Speaker)
	put("display", s.Display)
	if s.Volume > 0 {
		m["volume"] = strconv.Itoa(s.Volume)
	}
	for k, v := range map[string]int{"width": s.Width, "height": s.Height, "fps": s.FPS, "bitrate": s.BitrateKbps} {
		if v > 0 {
			m[k] = strconv.Itoa(v)
		}
	}
	return m
}

// parse fills c from the layered values and validates every field.
func (c *Config) parse(v map[string]string) error {
	bad := func(name, why string) error {
		return fmt.Errorf("%w: %s %q (from %s): %s", ErrConfig, name, v[name], c.Sources[name], why)
	}
	c.HubURL = v["hub"]
	if c.HubURL != "" {
		u, err := url.Parse(c.HubURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("hub", "must be an http:// or https:// URL with a host")
		}
	}
	c.RoomID, c.DataPath, c.Board = v["room"], v["data"], v["board"]
	if c.DataPath == "" {
		return bad("data", "must name a file")
	}
	c.SetupAddr, c.MetricsAddr, c.Console = v["setup-addr"], v["metrics-addr"], v["console"]
	for name, addr := range map[string]string{"setup-addr": c.SetupAddr, "metrics-addr": c.MetricsAddr} {
		if addr != "" {
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				return bad(name, "must be host:port or :port")
			}
		}
	}
	c.Camera, c.Microphone, c.Speaker, c.CAFile = v["camera"], v["mic"], v["speaker"], v["ca-file"]
	c.Display = v["display"]
	if c.Display == "" {
		c.Display = "none" // the board expects no screen
	}
	if c.Display != "auto" && c.Display != "none" && c.Display != "test" && !strings.HasPrefix(c.Display, "/dev/") {
		return bad("display", "must be auto, none, test or a device path such as /dev/dri/card1")
	}
	ints := []struct {
		name     string
		dst      *int
		min, max int
	}{
		{"width", &c.Width, 16, 7680}, {"height", &c.Height, 16, 4320},
		{"fps", &c.FPS, 1, 120}, {"bitrate", &c.BitrateKbps, 50, 100_000},
		{"volume", &c.Volume, 0, 100},
	}
	for _, f := range ints {
		s := v[f.name]
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min || n > f.max {
			return bad(f.name, fmt.Sprintf("must be a whole number from %d to %d", f.min, f.max))
		}
		*f.dst = n
	}
	d, err := time.ParseDuration(v["stuck-timeout"])
	if err != nil || d < 10*time.Second {
		return bad("stuck-timeout", "must be a duration of at least 10s")
	}
	c.Stuck = d
	switch v["log-level"] {
	case "debug", "info", "warn", "error":
		c.LogLevel = v["log-level"]
	default:
		return bad("log-level", "must be debug, info, warn or error")
	}
	return nil
}

// values is every setting as text, as the layers spell them.
func (c Config) values() map[string]string {
	return map[string]string{
		"hub": c.HubURL, "room": c.RoomID, "data": c.DataPath, "board": c.Profile.Name, "setup-addr": c.SetupAddr, "metrics-addr": c.MetricsAddr,
		"console": c.Console, "camera": c.Camera, "mic": c.Microphone, "speaker": c.Speaker, "volume": strconv.Itoa(c.Volume),
		"display": c.Display, "width": strconv.Itoa(c.Width),
		"height": strconv.Itoa(c.Height), "fps": strconv.Itoa(c.FPS), "bitrate": strconv.Itoa(c.BitrateKbps),
		"ca-file": c.CAFile, "stuck-timeout": c.Stuck.String(), "log-level": c.LogLevel,
	}
}

// Changed lists the settings whose value differs in next, sorted.
func (c Config) Changed(next Config) []string {
	var out []string
	nv := next.values()
	for k, v := range c.values() {
		if nv[k] != v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Describe lists every setting with its value and source, for `tetherd
// status` and the console.
func (c Config) Describe() []string {
	var out []string
	for k, v := range c.values() {
		s := c.Sources[k]
		if s == "" {
			s = "unset"
		}
		out = append(out, fmt.Sprintf("%-13s %-40s (%s)", k, v, s))
	}
	sort.Strings(out)
	return out
}
