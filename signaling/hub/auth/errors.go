package auth

import "errors"

var (
	// ErrInvalidCredentials is a wrong username or password (the contract's
	// 401 invalid_credentials; which of the two is never told).
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrSessionExpired is an unknown, expired or revoked session token.
	ErrSessionExpired = errors.New("auth: session expired")
	// ErrInviteInvalid is a forged, malformed, expired or revoked invite code.
	ErrInviteInvalid = errors.New("auth: invite invalid")
	// ErrExists is an account name or room that is already taken.
	ErrExists = errors.New("auth: already exists")
	// ErrNotFound is an unknown account or room.
	ErrNotFound = errors.New("auth: not found")
	// ErrBadInput is a name, room or password that breaks the rules.
	ErrBadInput = errors.New("auth: bad input")
	// ErrLocked is a data file held by another process (a running hub).
	ErrLocked = errors.New("auth: data file is locked by another process")
)
