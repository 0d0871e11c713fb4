package peer

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Defaults; see restart.go for why the ICE numbers are what they are.
const (
	DefaultHeartbeatInterval  = 5 * time.Second // the seed's heartbeatInterval
	DefaultHeartbeatMisses    = 2
	DefaultDisconnectedGrace  = 1500 * time.Millisecond
	DefaultRelayFallbackAfter = 4 * time.Second
	DefaultICEDisconnected    = 1500 * time.Millisecond
	DefaultICEFailed          = 8 * time.Second
	DefaultICEKeepAlive       = time.Second
	DefaultSendTimeout        = 5 * time.Second
	// DefaultStandbyMaxAge: a prepared offer's server-reflexive candidates
	// are NAT mappings nobody keeps alive. RFC 4787 REQ-5 says a NAT UDP
	// mapping must live at least 2 min, but many NATs drop idle ones after
	// 30-60 s; so the standby is rebuilt every minute while it waits.
	DefaultStandbyMaxAge = time.Minute
)

// Config configures a Peer. Tracks and Signaller are required; zero
// durations take the defaults above.
type Config struct {
	// Tracks are the local camera/microphone tracks, shared by every
	// PeerConnection this package makes. They are never closed here.
	Tracks []webrtc.TrackLocal
	// Signaller sends `signal` messages to the customer.
	Signaller Signaller
	// ICEServers are the STUN/TURN servers from session:verify; they can be
	// replaced later with SetICEServers.
	ICEServers []webrtc.ICEServer
	// KeyframeRequester is called when the customer sends a PLI or FIR
	// (RFC 4585 §6.3.1, RFC 5104 §4.3.1) and when a path comes up, so the
	// decoder gets an IDR at once. It runs on an RTCP reader goroutine and
	// must not block.
	KeyframeRequester func()
	// OnStateChange is called from the Run goroutine on every transition;
	// it must not block (the health tracker copies and returns).
	OnStateChange func(from, to State)
	// OnTrack receives the customer's tracks (their camera and microphone,
	// on the offer's recvonly m-lines; a *webrtc.TrackRemote is a
	// media.RTPReader). When nil they are read and dropped. Called on a
	// pion goroutine of the track's own, which it may keep to read: the
	// track ends (ReadRTP fails) when the customer's PeerConnection is
	// dropped, and OnTrack must then return; Run waits for it. The
	// receiver's RTCP is drained by this package.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)

	// Clock drives backoff, grace, fallback and heartbeat timers.
	Clock clockwork.Clock
	// Logger gets component=peer added; nil means slog.Default().
	Logger *slog.Logger
	// Net replaces the OS network (pion vnet in tests).
	Net transport.Net
	// IncludeLoopback offers 127.0.0.1 host candidates (tests on loopback).
	IncludeLoopback bool

	HeartbeatInterval  time.Duration
	HeartbeatMisses    int
	DisconnectedGrace  time.Duration
	RelayFallbackAfter time.Duration
	SendTimeout        time.Duration
	StandbyMaxAge      time.Duration
	// ICE consent timers passed to SettingEngine.SetICETimeouts.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	ICEKeepAliveInterval   time.Duration

	// disableStandby makes every customer get a PeerConnection created on
	// room:user:joined: the "cold" baseline the benchmarks compare with.
	disableStandby bool
	// tweak, if set, adjusts the SettingEngine (tests: loopback only).
	tweak func(*webrtc.SettingEngine)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.DisconnectedGrace, DefaultDisconnectedGrace)
	def(&c.RelayFallbackAfter, DefaultRelayFallbackAfter)
	def(&c.SendTimeout, DefaultSendTimeout)
	def(&c.StandbyMaxAge, DefaultStandbyMaxAge)
	def(&c.ICEDisconnectedTimeout, DefaultICEDisconnected)
	def(&c.ICEFailedTimeout, DefaultICEFailed)
	def(&c.ICEKeepAliveInterval, DefaultICEKeepAlive)
	if c.HeartbeatMisses == 0 {
		c.HeartbeatMisses = DefaultHeartbeatMisses
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	if c.Signaller == nil {
		return ErrNoSignaller
	}
	if len(c.Tracks) == 0 {
		return ErrNoTracks
	}
	for name, d := range map[string]time.Duration{
		"HeartbeatInterval": c.HeartbeatInterval, "DisconnectedGrace": c.DisconnectedGrace,
		"RelayFallbackAfter": c.RelayFallbackAfter, "SendTimeout": c.SendTimeout, "StandbyMaxAge": c.StandbyMaxAge,
		"ICEDisconnectedTimeout": c.ICEDisconnectedTimeout, "ICEFailedTimeout": c.ICEFailedTimeout,
		"ICEKeepAliveInterval": c.ICEKeepAliveInterval,
	} {
		if d < 0 {
			return fmt.Errorf("%w: %s %v", ErrBadConfig, name, d)
		}
	}
	if c.HeartbeatMisses < 0 {
		return fmt.Errorf("%w: HeartbeatMisses %d", ErrBadConfig, c.HeartbeatMisses)
	}
	for i, t := range c.Tracks {
		if t == nil {
			return fmt.Errorf("%w: track %d is nil", ErrBadConfig, i)
		}
	}
	return nil
}
