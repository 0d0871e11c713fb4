package peer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace is below slog.LevelDebug: pion's trace output (every STUN
// packet) must be asked for explicitly with a handler level of -8.
const levelTrace = slog.LevelDebug - 4

// slogFactory bridges pion's logging.LoggerFactory into slog (house style
// point 9): every pion scope ("ice", "dtls", "pc", ...) becomes a logger with
// component=peer and pion=<scope>.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{log: f.log.With("pion", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l slogLeveled) emitf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return // skip the Sprintf: pion logs a lot at debug level
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l slogLeveled) Trace(msg string)                  { l.emit(levelTrace, msg) }
func (l slogLeveled) Tracef(format string, args ...any) { l.emitf(levelTrace, format, args...) }
func (l slogLeveled) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l slogLeveled) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }

// pion's Info is per-connection chatter (every signaling and ICE state
// change, which this package logs once in its own words) and its Warn is
// mostly benign teardown noise ("use of closed network connection"): both
// go one level down so a field tech's log shows what matters.
func (l slogLeveled) Info(msg string)                   { l.emit(slog.LevelDebug, msg) }
func (l slogLeveled) Infof(format string, args ...any)  { l.emitf(slog.LevelDebug, format, args...) }
func (l slogLeveled) Warn(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l slogLeveled) Warnf(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args...) }
func (l slogLeveled) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l slogLeveled) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args...) }
