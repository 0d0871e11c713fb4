// Package pionlog is the one bridge from pion's logging.LoggerFactory into
// log/slog (house style: log/slog with a component attribute), used by the
// appliance's PeerConnections and the hub's TURN server alike.
//
// Every pion scope ("ice", "dtls", "pc", "turn", ...) becomes a logger
// with pion=<scope> on the caller's logger (which carries its component).
// Levels move one step down, because pion's Info is per-connection chatter
// (every signaling and ICE state change, which the callers log once in
// their own words) and its Warn is mostly benign teardown noise ("use of
// closed network connection"): a field tech's log keeps what matters.
//
//	pion   Trace  Debug  Info   Warn  Error
//	slog   -8     Debug  Debug  Info  Error
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is below slog.LevelDebug: pion's trace output (every STUN
// packet) must be asked for explicitly with a handler level of -8.
const LevelTrace = slog.LevelDebug - 4

// Factory is a logging.LoggerFactory writing to Log.
type Factory struct{ Log *slog.Logger }

// New returns the factory for log (slog.Default when nil).
func New(log *slog.Logger) Factory {
	if log == nil {
		log = slog.Default()
	}
	return Factory{Log: log}
}

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return leveled{log: f.Log.With("pion", scope)}
}

type leveled struct{ log *slog.Logger }

func (l leveled) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l leveled) emitf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return // skip the Sprintf: pion logs a lot at debug level
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l leveled) Trace(msg string)                  { l.emit(LevelTrace, msg) }
func (l leveled) Tracef(format string, args ...any) { l.emitf(LevelTrace, format, args...) }
func (l leveled) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l leveled) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l leveled) Info(msg string)                   { l.emit(slog.LevelDebug, msg) }
func (l leveled) Infof(format string, args ...any)  { l.emitf(slog.LevelDebug, format, args...) }
func (l leveled) Warn(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l leveled) Warnf(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args...) }
func (l leveled) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l leveled) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args...) }
