package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// Invite is a customer's ticket to one counter's room until ExpiresAt.
type Invite struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	RoomID    string    `json:"roomId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// Invite code layout (all inside one base64url string, no padding):
//
//	version(1) = 1 | expiry(4, Unix seconds, big endian) | id(8, random) |
//	room id (1..64 bytes) | HMAC-SHA256(invite secret, everything before)[:16]
//
// The MAC lets the hub refuse a forged or altered code before any lookup;
// the stored record lets an operator list and revoke codes.
const (
	inviteVersion = 1
	inviteIDLen   = 8
	inviteMACLen  = 16
	inviteHead    = 1 + 4 + inviteIDLen
	// MaxInviteCodeLen bounds codes accepted from the network.
	MaxInviteCodeLen = (inviteHead+MaxNameLen+inviteMACLen)*4/3 + 4
	// DefaultInviteTTL is an invite's lifetime when none is given.
	DefaultInviteTTL = 24 * time.Hour
)

// invitePayload is a decoded, not yet verified invite code.
type invitePayload struct {
	Expiry time.Time
	ID     []byte
	RoomID string
	Signed []byte // the bytes the MAC covers
	MAC    []byte
}

// parseInviteCode decodes a code's structure without checking its MAC.
func parseInviteCode(code string) (invitePayload, error) {
	if len(code) == 0 || len(code) > MaxInviteCodeLen {
		return invitePayload{}, fmt.Errorf("auth: invite length %d: %w", len(code), ErrInviteInvalid)
	}
	// Strict and re-encoded: one invite has exactly one code. The decoder
	// would otherwise take non-zero padding bits and skip CR/LF, so
	// several strings would stand for the same invite (issue 12).
	raw, err := base64.RawURLEncoding.Strict().DecodeString(code)
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != code {
		return invitePayload{}, fmt.Errorf("auth: invite encoding: %w", ErrInviteInvalid)
	}
	if len(raw) < inviteHead+1+inviteMACLen || raw[0] != inviteVersion {
		return invitePayload{}, fmt.Errorf("auth: invite layout: %w", ErrInviteInvalid)
	}
	body := raw[:len(raw)-inviteMACLen]
	p := invitePayload{
		Expiry: time.Unix(int64(binary.BigEndian.Uint32(raw[1:5])), 0).UTC(),
		ID:     raw[5:inviteHead],
		RoomID: string(body[inviteHead:]),
		Signed: body,
		MAC:    raw[len(raw)-inviteMACLen:],
	}
	if !ValidName(p.RoomID) {
		return invitePayload{}, fmt.Errorf("auth: invite room: %w", ErrInviteInvalid)
	}
	return p, nil
}

func inviteMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:inviteMACLen]
}

// NewInvite signs and stores an invite to a counter's room.
func (s *Store) NewInvite(roomID string, ttl time.Duration) (Invite, error) {
	if ttl <= 0 {
		ttl = DefaultInviteTTL
	}
	if _, err := s.RoomOwner(roomID); err != nil {
		return Invite{}, err
	}
	key, err := s.Secret("invite")
	if err != nil {
		return Invite{}, err
	}
	now := s.clk.Now().UTC()
	exp := now.Add(ttl).Truncate(time.Second)
	if exp.Unix() > 1<<32-1 {
		return Invite{}, fmt.Errorf("auth: invite ttl %v too long: %w", ttl, ErrBadInput)
	}
	body := make([]byte, inviteHead, inviteHead+len(roomID)+inviteMACLen)
	body[0] = inviteVersion
	binary.BigEndian.PutUint32(body[1:5], uint32(exp.Unix()))
	if _, err := rand.Read(body[5:inviteHead]); err != nil {
		return Invite{}, err
	}
	body = append(body, roomID...)
	code := base64.RawURLEncoding.EncodeToString(append(body, inviteMAC(key, body)...))
	inv := Invite{ID: hex.EncodeToString(body[5:inviteHead]), Code: code, RoomID: roomID, CreatedAt: now, ExpiresAt: exp}
	if err := s.db.putInvite(inv); err != nil {
		return Invite{}, fmt.Errorf("auth: store invite: %w", err)
	}
	s.log.Info("invite created", "room", roomID, "id", inv.ID, "expires", exp)
	return inv, nil
}

// CheckInvite returns the invite a code stands for, or ErrInviteInvalid
// when it is malformed, forged, expired, revoked or unknown.
func (s *Store) CheckInvite(code string) (Invite, error) {
	p, err := parseInviteCode(code)
	if err != nil {
		return Invite{}, err
	}
	key, err := s.Secret("invite")
	if err != nil {
		return Invite{}, err
	}
	if !hmac.Equal(p.MAC, inviteMAC(key, p.Signed)) {
		return Invite{}, fmt.Errorf("auth: invite signature: %w", ErrInviteInvalid)
	}
	if !s.clk.Now().Before(p.Expiry) {
		return Invite{}, fmt.Errorf("auth: invite expired at %v: %w", p.Expiry, ErrInviteInvalid)
	}
	inv, ok, err := s.db.invite(hex.EncodeToString(p.ID))
	if err != nil {
		return Invite{}, err
	}
	if !ok || inv.Revoked || inv.RoomID != p.RoomID {
		return Invite{}, fmt.Errorf("auth: invite unknown or revoked: %w", ErrInviteInvalid)
	}
	return inv, nil
}

// Invites lists the stored invites of a room ("" for all), expired ones
// included.
func (s *Store) Invites(roomID string) ([]Invite, error) {
	all, err := s.db.invites()
	if err != nil {
		return nil, err
	}
	var out []Invite
	for _, inv := range all {
		if roomID == "" || inv.RoomID == roomID {
			out = append(out, inv)
		}
	}
	return out, nil
}

// RevokeInvite makes an invite invalid before its expiry.
func (s *Store) RevokeInvite(id string) error { return s.db.revokeInvite(id) }
