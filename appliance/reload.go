package appliance

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"slices"

	"tether/store"
)

// liveSettings can change without a restart when SIGHUP (or a save on
// the setup page) re-reads the configuration; every other change is
// logged as waiting for the next restart (issue 11). The speaker's volume
// is live (issue 15): the player scales from its next chunk.
var liveSettings = []string{"log-level", "volume"}

// reloader is the extra component that re-reads the layered configuration
// on each signal from hup (SIGHUP) and each save on the setup page, with
// the flags main was given, the stored settings of the open state file,
// the config file and the environment as they are now, so a setting from
// a higher layer (flag, environment, file) still wins over the page's. It
// applies what can change live (the log level, through level; the volume,
// through Run) and names the rest.
func reloader(fs *flag.FlagSet, hup <-chan os.Signal, level *slog.LevelVar) func(*App) Component {
	return func(a *App) Component {
		running := a.cfg // owned by this goroutine: what is in force
		var trigger string
		return ComponentFunc(func(ctx context.Context) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-hup:
					trigger = "SIGHUP"
				case <-a.settingsSaved:
					trigger = "setup page"
				}
				next, err := Resolve(fs, os.Getenv, os.ReadFile,
					func(string) (store.Settings, error) { return a.store.Settings() }, detectBoard)
				running = a.reload(trigger, running, next, err, level)
			}
		})
	}
}

// reload compares the configuration in force with the one just read and
// returns what is in force afterwards; trigger says who asked (SIGHUP, the
// setup page) in the log. A configuration that does not
// resolve changes nothing.
func (a *App) reload(trigger string, running, next Config, err error, level *slog.LevelVar) Config {
	if err != nil {
		a.log.Error(trigger+": configuration not reloaded; the running one stays", "err", err)
		return running
	}
	var applied, restart []string
	for _, name := range running.Changed(next) {
		if !slices.Contains(liveSettings, name) {
			restart = append(restart, name)
			continue
		}
		applied = append(applied, name)
		switch name {
		case "log-level":
			level.Set(parseLevel(next.LogLevel))
			running.LogLevel = next.LogLevel
		case "volume":
			a.q.post(evVolume{next.Volume})
			running.Volume = next.Volume
		}
	}
	a.log.Info(trigger+": configuration re-read", "applied", applied, "level", level.Level().String())
	if len(restart) > 0 {
		a.log.Warn(trigger+": changed settings apply at the next restart", "settings", restart)
	}
	return running
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s)) // Config.parse has validated it
	return l
}
