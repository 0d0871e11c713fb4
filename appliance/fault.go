package appliance

// Start-up faults (issue 14, "bad input"): a config file that is corrupt,
// another program's or full of unknown keys; device nodes the daemon's
// user may not open (not in the video, audio, gpio or dialout group); a
// state file that cannot be written (a read-only data partition). Each is
// one line naming the cause — in the log (stderr, so the journal or
// /var/log/tetherd.log), on the serial console's status line, in sd_notify
// STATUS=, on /healthz and the setup page — and the LEDs show the fault
// look (docs/leds.md).
//
// Design: tetherd stays up in the fault state rather than exiting. An exit
// would become a restart loop (Restart=always, S90tetherd) whose only
// trace is the journal: the LEDs dark between attempts, the console
// silent, the setup page unreachable — exactly the places a technician at
// the counter looks. Staying up keeps all of them, tells systemd READY (the
// unit is active with the cause in its STATUS, not flapping), and keeps
// the link to the hub running on whatever does work (the other config
// layers, an in-memory store). A watcher re-checks every fault every 5 s
// and on SIGHUP; once its cause is gone it asks for the usual clean
// restart (exit 3 after 3 s), so the fixed file, the writable partition or
// the new group membership (which only a new process gets) takes effect.
// Only what no fallback can cover still exits: another tetherd holding the
// state file's lock, a config no layer of which resolves.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tether/board"
	"tether/store"
)

// faultKind says which start-up check found a fault.
type faultKind int

const (
	faultBuild   faultKind = iota // a build without the encoders this board needs
	faultConfig                   // a config layer that does not resolve
	faultDevices                  // device nodes the daemon's user may not open
	faultData                     // the state file cannot be written
	numFaultKinds
)

func (k faultKind) String() string {
	return [...]string{"build", "config", "devices", "data"}[k]
}

// faultSet holds the current fault of each kind ("" none). Its lock guards
// it: New, Main and the fault watcher write it.
type faultSet struct {
	mu     sync.Mutex
	causes [numFaultKinds]string
}

// setFault records (cause != "") or clears a fault, logs it as one line
// and hands every current cause to health, which drives the LEDs, the
// console, sd_notify STATUS= and /healthz.
func (a *App) setFault(k faultKind, cause string) {
	a.faults.mu.Lock()
	prev := a.faults.causes[k]
	a.faults.causes[k] = cause
	var all []string
	for _, c := range a.faults.causes {
		if c != "" {
			all = append(all, c)
		}
	}
	a.faults.mu.Unlock()
	if cause == prev {
		return
	}
	if cause != "" {
		a.log.Error("fault: "+cause, "kind", k.String())
		if a.rec.st != nil { // unset while New opens the store
			a.rec.event("appliance", "", "fault", cause)
		}
	}
	a.health.SetFault(strings.Join(all, "; "))
}

func (a *App) fault(k faultKind) string {
	a.faults.mu.Lock()
	defer a.faults.mu.Unlock()
	return a.faults.causes[k]
}

func (a *App) anyFault() bool {
	a.faults.mu.Lock()
	defer a.faults.mu.Unlock()
	for _, c := range a.faults.causes {
		if c != "" {
			return true
		}
	}
	return false
}

// resolveOrFault layers the configuration like Resolve. When a layer does
// not resolve it tries again without the layers most likely at fault —
// the file, then the environment, then the flags, then the stored
// settings, then board detection — and returns the configuration that
// resolved with the cause to report as a config fault. A state file that
// cannot be opened is not a config fault here (New reports it as the data
// fault); another tetherd holding it is an error.
func resolveOrFault(fset *flag.FlagSet, getenv func(string) string, readFile func(string) ([]byte, error),
	stored func(string) (store.Settings, error), detect func() (board.Profile, error)) (Config, string, error) {
	var locked error
	tolerant := func(p string) (store.Settings, error) {
		st, err := stored(p)
		if errors.Is(err, store.ErrLocked) {
			locked = err
			return st, err
		}
		if err != nil {
			return store.Settings{}, nil
		}
		return st, nil
	}
	cfg, err := Resolve(fset, getenv, readFile, tolerant, detect)
	if locked != nil {
		return Config{}, "", locked
	}
	if err == nil || !errors.Is(err, ErrConfig) {
		return cfg, "", err
	}
	noFile := func(string) ([]byte, error) { return nil, nil } // empty: sets nothing
	noEnv := func(string) string { return "" }
	noFlags := flag.NewFlagSet("tetherd", flag.ContinueOnError)
	RegisterFlags(noFlags)
	tries := []struct {
		without  string
		fs       *flag.FlagSet
		getenv   func(string) string
		stored   func(string) (store.Settings, error)
		detected func() (board.Profile, error)
	}{
		{"the config file", fset, getenv, tolerant, detect},
		{"the config file and the environment", fset, noEnv, tolerant, detect},
		{"the config file, the environment and the flags", noFlags, noEnv, tolerant, detect},
		{"any setting but the defaults and the board's", noFlags, noEnv, nil, detect},
		{"any setting but the defaults, on the generic board", noFlags, noEnv, nil, nil},
	}
	for _, tr := range tries {
		if c, e := Resolve(tr.fs, tr.getenv, noFile, tr.stored, tr.detected); e == nil {
			return c, err.Error() + "; running without " + tr.without + " until it is fixed", nil
		}
	}
	return Config{}, "", err
}

// fileProblem explains why a config file's bytes are not tetherd settings,
// for the one-line error: where the JSON breaks, or that it is some other
// JSON.
func fileProblem(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := 1, 1
		for _, c := range b[:min(int(se.Offset), len(b))] {
			if c == '\n' {
				line, col = line+1, 0
			}
			col++
		}
		return fmt.Sprintf("not valid JSON at line %d, column %d: %v", line, col, err)
	case errors.As(err, &te):
		return fmt.Sprintf("not a JSON object of tetherd settings but a JSON %s", te.Value)
	case errors.Is(err, os.ErrPermission):
		return fmt.Sprintf("cannot be read (%v): it must be readable by the user tetherd runs as", err)
	}
	return err.Error()
}

// unknownKeys explains the keys of a config file that are not settings,
// "" when all are: a file with no setting of ours at all is most likely
// another program's.
func unknownKeys(raw map[string]any) string {
	var bad []string
	for k := range raw {
		if !known(k) {
			bad = append(bad, strconv.Quote(k))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	sort.Strings(bad)
	if len(bad) > 5 {
		bad = append(bad[:5], "…")
	}
	if len(bad) == len(raw) && len(raw) > 1 {
		return "holds no tetherd setting (keys " + strings.Join(bad, ", ") + "): another program's config? tetherd -h lists the settings"
	}
	if len(bad) == 1 {
		return "unknown setting " + bad[0]
	}
	return "unknown settings " + strings.Join(bad, ", ")
}

// deviceNeed is a device node tetherd opens, or a set of nodes of which
// any one will do (the sound card's, the GPIO chips).
type deviceNeed struct {
	what  string
	paths []string
}

// deviceNeeds lists the nodes the configuration makes tetherd open.
func deviceNeeds(cfg Config) []deviceNeed {
	var out []deviceNeed
	add := func(what string, paths ...string) {
		if len(paths) > 0 {
			out = append(out, deviceNeed{what, paths})
		}
	}
	if strings.HasPrefix(cfg.Camera, "/") {
		add("camera", cfg.Camera)
	}
	if d := cfg.Profile.Encoder.Device; strings.HasPrefix(d, "/") {
		add("encoder", d)
	}
	switch {
	case strings.HasPrefix(cfg.Microphone, "/dev/"): // as deviceOpeners
		add("microphone", cfg.Microphone)
	case cfg.Microphone != "test":
		m, _ := filepath.Glob("/dev/snd/pcmC*D*c")
		add("microphone", m...)
	}
	if c := cfg.Profile.GPIO.Chip; c != "" && c != board.SimChip {
		m, _ := filepath.Glob("/dev/gpiochip*")
		add("LEDs", m...)
	}
	if strings.HasPrefix(cfg.Console, "/") {
		add("serial console", cfg.Console)
	}
	return out
}

// deviceFault checks that this process may open every node the
// configuration needs, read and write. A node that is missing is not a
// fault here (health shows no-camera and the pipeline waits for it); one
// that is there but closed to this user is: the install lacks a group
// membership or a udev rule, and no retry fixes that.
func deviceFault(needs []deviceNeed) string {
	var denied []string
	groups := map[string]bool{}
	for _, n := range needs {
		var first string
		ok := false
		for _, p := range n.paths {
			err := accessRW(p)
			if err == nil || !errors.Is(err, fs.ErrPermission) {
				ok = true // allowed, or missing: not this check's business
				break
			}
			if first == "" {
				first = p
			}
		}
		if ok || first == "" {
			continue
		}
		g := nodeGroup(first)
		denied = append(denied, fmt.Sprintf("%s %s (group %s)", n.what, first, g))
		if g != "root" && !strings.HasPrefix(g, "gid ") {
			groups[g] = true
		}
	}
	if len(denied) == 0 {
		return ""
	}
	who := "this user"
	if u, err := user.Current(); err == nil {
		who = "user " + u.Username
	}
	why := "permission denied on " + strings.Join(denied, ", ") + ": " + who + " is not in the group"
	if len(groups) > 0 {
		var gs []string
		for g := range groups {
			gs = append(gs, g)
		}
		sort.Strings(gs)
		why += fmt.Sprintf(" (usermod -aG %s %s, then restart tetherd)", strings.Join(gs, ","), strings.TrimPrefix(who, "user "))
	}
	return why
}

// nodeGroup names the group owning path.
func nodeGroup(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	gid := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return "gid " + gid
}

// openStoreOrFault opens the state file; when it cannot be written it
// reports the data fault and returns a store in memory, so the appliance
// still comes up (store.Open's contract). Another tetherd holding the
// lock is an error: two daemons must not drive one counter.
func (a *App) openStoreOrFault(path string, log *slog.Logger) (*store.Store, error) {
	s, err := store.Open(path, store.Options{Logger: log, Clock: a.clk})
	if err == nil {
		return s, nil
	}
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("appliance: state file: %w", err)
	}
	why := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	mem := store.NewMem(store.Options{Logger: log, Clock: a.clk})
	a.setFault(faultData, fmt.Sprintf("state file %s cannot be written (%s): running without it, so the session and settings are lost at restart; make the data partition writable", path, why))
	return mem, nil
}

// checkStartup reports the config fault resolveOrFault found and checks
// the device nodes. Main calls it once the App is built.
func (a *App) checkStartup(configFault string) {
	if configFault != "" {
		a.setFault(faultConfig, configFault)
	}
	a.setFault(faultDevices, deviceFault(deviceNeeds(a.cfg)))
}

// faultRecheck is how often the fault watcher looks again.
const faultRecheck = 5 * time.Second

// faultWatcher is the extra component that re-checks the start-up faults
// every faultRecheck and on SIGHUP, and asks for a clean restart once
// none is left: what was fixed (the file, the partition, a group) takes
// effect in a fresh process. It does nothing when there was no fault.
func faultWatcher(fset *flag.FlagSet) func(*App) Component {
	// Subscribed now, before the App runs, so that no SIGHUP from then on
	// is missed.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return func(a *App) Component {
		if !a.anyFault() {
			signal.Stop(hup)
			return nil
		}
		return ComponentFunc(func(ctx context.Context) error {
			defer signal.Stop(hup)
			t := a.clk.NewTicker(faultRecheck)
			defer t.Stop()
			for {
				asked := false
				select {
				case <-ctx.Done():
					return nil
				case <-t.Chan():
				case <-hup:
					asked = true
				}
				if a.recheckFaults(fset, asked) {
					a.RequestRestart("start-up fault fixed")
					return nil
				}
			}
		})
	}
}

// recheckFaults runs each failed check again and reports whether every
// start-up fault is gone (a build fault never goes). A fault that persists
// is logged when asked (SIGHUP), not every faultRecheck: the console's
// status line already repeats it every 30 s.
func (a *App) recheckFaults(fset *flag.FlagSet, asked bool) bool {
	if a.fault(faultBuild) != "" {
		return false
	}
	fixed := func(k faultKind, still string) bool {
		if a.fault(k) == "" {
			return true
		}
		if still != "" {
			if asked {
				a.log.Warn("SIGHUP: fault persists: "+still, "kind", k.String())
			}
			return false
		}
		a.log.Info("fault fixed", "kind", k.String())
		return true
	}
	ok := true
	if a.fault(faultConfig) != "" {
		_, err := Resolve(fset, os.Getenv, os.ReadFile, func(string) (store.Settings, error) { return a.store.Settings() }, detectBoard)
		still := ""
		if err != nil {
			still = err.Error()
		}
		ok = fixed(faultConfig, still) && ok
	}
	if a.fault(faultDevices) != "" {
		ok = fixed(faultDevices, deviceFault(deviceNeeds(a.cfg))) && ok
	}
	if a.fault(faultData) != "" {
		still := ""
		s, err := store.Open(a.cfg.DataPath, store.Options{LockTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			still = err.Error()
		} else {
			_ = s.Close()
		}
		ok = fixed(faultData, still) && ok
	}
	return ok
}
