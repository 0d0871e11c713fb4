package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tether/internal/login"
)

// recordVersion is the version of every JSON record this release writes (the
// "v" field). It is separate from the schema version in the meta bucket: the
// schema says which buckets and keys exist, the record version says how one
// value is shaped. A record with v == 0 (missing) or v > recordVersion is
// reported as ErrCorruptRecord rather than guessed at.
const recordVersion = 1

// Settings are the values chosen on the setup page or with tetherd flags that
// must survive a reboot. A zero field means "not set here": the configuration
// layering (code defaults → board profile → stored settings → config file →
// environment → flags, house style point 7) applies only fields that are set.
type Settings struct {
	HubURL      string `json:"hubUrl,omitempty"`
	RoomID      string `json:"roomId,omitempty"`
	Camera      string `json:"camera,omitempty"`     // capture device, e.g. /dev/video0
	Microphone  string `json:"microphone,omitempty"` // ALSA card/device name
	Speaker     string `json:"speaker,omitempty"`    // ALSA playback card/device name (issue 15)
	Volume      int    `json:"volume,omitempty"`     // speaker volume, 1..100 percent
	Display     string `json:"display,omitempty"`    // "auto", "none" or a DRM card path (issue 15)
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	FPS         int    `json:"fps,omitempty"`
	BitrateKbps int    `json:"bitrateKbps,omitempty"`
}

// Validate rejects values no component could use; zero means unset and is fine.
func (s Settings) Validate() error {
	switch {
	case s.Width < 0 || s.Width > 7680:
		return fmt.Errorf("%w: width %d", ErrInvalid, s.Width)
	case s.Height < 0 || s.Height > 4320:
		return fmt.Errorf("%w: height %d", ErrInvalid, s.Height)
	case s.FPS < 0 || s.FPS > 240:
		return fmt.Errorf("%w: fps %d", ErrInvalid, s.FPS)
	case s.BitrateKbps < 0 || s.BitrateKbps > 100_000:
		return fmt.Errorf("%w: bitrate %d kbit/s", ErrInvalid, s.BitrateKbps)
	case s.Volume < 0 || s.Volume > 100:
		return fmt.Errorf("%w: volume %d%%", ErrInvalid, s.Volume)
	}
	for name, v := range map[string]string{"hub URL": s.HubURL, "room": s.RoomID, "camera": s.Camera, "microphone": s.Microphone, "speaker": s.Speaker, "display": s.Display} {
		if len(v) > maxSettingLen || !utf8.ValidString(v) {
			return fmt.Errorf("%w: %s is not valid UTF-8 of at most %d bytes", ErrInvalid, name, maxSettingLen)
		}
	}
	return nil
}

const maxSettingLen = 2048

type settingsRecord struct {
	V int `json:"v"`
	Settings
}

// Session is the hub session from POST /api/login (protocol.md "Login"): the
// token and its expiry, never the password. DeviceID and RoomID are what the
// hub answered; HubURL names the hub that issued the token.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	DeviceID  string    `json:"deviceId,omitempty"`
	RoomID    string    `json:"roomId,omitempty"`
	HubURL    string    `json:"hubUrl,omitempty"`
	SavedAt   time.Time `json:"savedAt"` // set by SetSession from the store's clock
}

// Expired reports whether the token is past its expiry at now. A session with
// no expiry never expires locally; the hub still has the last word
// (protocol.md: session_expired).
func (s Session) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

func (s Session) validate() error {
	if s.Token == "" {
		return fmt.Errorf("%w: empty session token", ErrInvalid)
	}
	if len(s.Token) > 8192 || strings.ContainsAny(s.Token, "\x00\r\n") {
		return fmt.Errorf("%w: session token is too long or holds control characters", ErrInvalid)
	}
	return nil
}

type sessionRecord struct {
	V int `json:"v"`
	Session
}

// Identity names this appliance. InstallID is generated locally (128 random
// bits) when the store is created and never changes while the file lives;
// HardwareID is what the board reported (Options.HardwareID, e.g. the SoC
// serial) when it was last opened; DeviceID is the hub's name for us from the
// last login.
type Identity struct {
	InstallID  string    `json:"installId"`
	HardwareID string    `json:"hardwareId,omitempty"`
	DeviceID   string    `json:"deviceId,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

type identityRecord struct {
	V int `json:"v"`
	Identity
}

// Transport is the Engine.IO transport that last carried the socket.
type Transport string

// The Engine.IO v4 transports.
const (
	TransportNone      Transport = ""
	TransportWebSocket Transport = "websocket"
	TransportPolling   Transport = "polling"
)

func (t Transport) String() string {
	if t == TransportNone {
		return "none"
	}
	return string(t)
}

func (t Transport) valid() bool {
	return t == TransportNone || t == TransportWebSocket || t == TransportPolling
}

// validICEPath reports whether p is a candidate type of RFC 8445 §5.1.1 as
// the WebRTC layer names it (peer.Path: host, srflx, prflx, relay), or ""
// (none recorded). The record holds the text; the type is the WebRTC
// layer's (issue 13: one type per fact). prflx is accepted because pion
// reports it when the selected pair was learnt from a connectivity check
// (RFC 8445 §7.2.5.3.1).
func validICEPath(p string) bool {
	switch p {
	case "", "host", "srflx", "prflx", "relay":
		return true
	}
	return false
}

// Counter names a reconnect counter kept in LinkState and the history.
type Counter uint8

// The counters the seed's flows produce.
const (
	CounterSocketReconnect Counter = iota + 1
	CounterICERestart
	CounterCustomerChange
)

func (c Counter) String() string {
	switch c {
	case CounterSocketReconnect:
		return "socket_reconnect"
	case CounterICERestart:
		return "ice_restart"
	case CounterCustomerChange:
		return "customer_change"
	}
	return fmt.Sprintf("counter(%d)", uint8(c))
}

// HistoryError is the history kind RecordError writes.
const HistoryError = "error"

// LinkState is what the link layers last achieved and how often they had to
// recover. Counters only grow; they survive reboots so a field tech sees the
// lifetime totals.
type LinkState struct {
	Transport   Transport `json:"transport,omitempty"`
	TransportAt time.Time `json:"transportAt,omitzero"`
	ICEPath     string    `json:"icePath,omitempty"` // peer.Path's text`
	ICEPathAt   time.Time `json:"icePathAt,omitzero"`

	SocketReconnects uint64 `json:"socketReconnects"`
	ICERestarts      uint64 `json:"iceRestarts"`
	CustomerChanges  uint64 `json:"customerChanges"`

	LastError          string    `json:"lastError,omitempty"`
	LastErrorComponent string    `json:"lastErrorComponent,omitempty"`
	LastErrorAt        time.Time `json:"lastErrorAt,omitzero"`
}

type linkRecord struct {
	V int `json:"v"`
	LinkState
}

// HistoryEntry is one counted incident (Kind is a Counter's String or
// HistoryError), kept in a bounded ring (Options.HistoryLimit).
type HistoryEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

type historyRecord struct {
	V int `json:"v"`
	HistoryEntry
}

// Event is one state transition of one component, for field diagnosis. Seq is
// assigned by AppendEvent and grows by one per event for the life of the file;
// Time defaults to the store's clock.
type Event struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Component string    `json:"component"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

type eventRecord struct {
	V int `json:"v"`
	Event
}

// Field bounds for the event log and history so one chatty component cannot
// grow the file without limit. Longer values are cut at a rune boundary.
const (
	maxNameLen   = 64
	maxDetailLen = 1024
)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// passwordRecord holds the setup-page password as an argon2id hash
// (RFC 9106) with the parameters used, so they can change between releases
// without invalidating stored hashes.
type passwordRecord struct {
	V         int       `json:"v"`
	Algorithm string    `json:"alg"`
	Time      uint32    `json:"t"`
	MemoryKiB uint32    `json:"m"`
	Threads   uint8     `json:"p"`
	Salt      []byte    `json:"salt"`
	Hash      []byte    `json:"hash"`
	SetAt     time.Time `json:"setAt"`
}

func (r passwordRecord) hash() login.Hash {
	return login.Hash{Params: login.Params{Time: r.Time, MemoryKiB: r.MemoryKiB, Threads: r.Threads}, Salt: r.Salt, Key: r.Hash}
}

// metaRecord is the schema version record in the meta bucket.
type metaRecord struct {
	V          int            `json:"v"`
	Schema     int            `json:"schema"`
	CreatedAt  time.Time      `json:"createdAt"`
	Migrations []migrationLog `json:"migrations,omitempty"`
}

type migrationLog struct {
	From int       `json:"from"`
	To   int       `json:"to"`
	At   time.Time `json:"at"`
}

// ---- codecs ----

func corrupt(key string, cause error) error {
	return fmt.Errorf("%w %s: %v", ErrCorruptRecord, key, cause)
}

// decodeJSON decodes one record and checks its version. It never panics on
// any input (FuzzRecordDecoders).
func decodeJSON(key string, data []byte, dst any, version func() int) error {
	if len(data) == 0 {
		return corrupt(key, fmt.Errorf("empty value"))
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return corrupt(key, err)
	}
	switch v := version(); {
	case v == 0:
		return corrupt(key, fmt.Errorf("missing record version"))
	case v > recordVersion:
		return corrupt(key, fmt.Errorf("record version %d is newer than %d", v, recordVersion))
	}
	return nil
}

func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode: %w", err)
	}
	return b, nil
}

func decodeSettings(key string, data []byte) (Settings, error) {
	var r settingsRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return Settings{}, err
	}
	if err := r.Settings.Validate(); err != nil {
		return Settings{}, corrupt(key, err)
	}
	return r.Settings, nil
}

func decodeSession(key string, data []byte) (Session, error) {
	var r sessionRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return Session{}, err
	}
	if err := r.Session.validate(); err != nil {
		return Session{}, corrupt(key, err)
	}
	return r.Session, nil
}

func decodeIdentity(key string, data []byte) (Identity, error) {
	var r identityRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return Identity{}, err
	}
	if r.InstallID == "" {
		return Identity{}, corrupt(key, fmt.Errorf("empty install id"))
	}
	return r.Identity, nil
}

func decodeLink(key string, data []byte) (LinkState, error) {
	var r linkRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return LinkState{}, err
	}
	if !r.Transport.valid() {
		return LinkState{}, corrupt(key, fmt.Errorf("unknown transport %q", string(r.Transport)))
	}
	if !validICEPath(r.ICEPath) {
		return LinkState{}, corrupt(key, fmt.Errorf("unknown ICE path %q", string(r.ICEPath)))
	}
	return r.LinkState, nil
}

func decodeHistory(key string, data []byte) (HistoryEntry, error) {
	var r historyRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return HistoryEntry{}, err
	}
	if r.Kind == "" {
		return HistoryEntry{}, corrupt(key, fmt.Errorf("empty kind"))
	}
	return r.HistoryEntry, nil
}

func decodeEvent(key string, data []byte) (Event, error) {
	var r eventRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return Event{}, err
	}
	if r.Component == "" {
		return Event{}, corrupt(key, fmt.Errorf("empty component"))
	}
	return r.Event, nil
}

func decodePassword(key string, data []byte) (passwordRecord, error) {
	var r passwordRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return passwordRecord{}, err
	}
	if r.Algorithm != "argon2id" {
		return passwordRecord{}, corrupt(key, fmt.Errorf("unknown algorithm %q", r.Algorithm))
	}
	if err := r.hash().Check(); err != nil {
		return passwordRecord{}, corrupt(key, err)
	}
	return r, nil
}

func decodeMeta(key string, data []byte) (metaRecord, error) {
	var r metaRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return metaRecord{}, err
	}
	if r.Schema < 1 {
		return metaRecord{}, corrupt(key, fmt.Errorf("schema %d", r.Schema))
	}
	return r, nil
}
