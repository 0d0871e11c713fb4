package hub

import "errors"

var (
	// ErrConfig is an invalid Config.
	ErrConfig = errors.New("hub: bad config")
	// ErrClosed is an operation on a hub whose Run has returned.
	ErrClosed = errors.New("hub: closed")
)

// Machine-readable error strings in replies (the contract's `error`). The
// first three are the contract's; the rest are the hub's (docs/protocol.md).
const (
	codeSessionExpired = "session_expired"
	codeUnauthorized   = "unauthorized"
	codeInviteInvalid  = "invite_invalid"
	codeBadRequest     = "bad_request"
	codeForbidden      = "forbidden"    // room:join for a room that is not the caller's
	codeNotJoined      = "not_joined"   // an event that needs room:join first
	codeNotInCall      = "not_in_call"  // signal or call:ended outside the current call
	codeRateLimited    = "rate_limited" // POST /api/login after too many wrong passwords; signals above the rate
	codeInvalidCreds   = "invalid_credentials"
	codeInternal       = "internal"
	codeBusy           = "busy"          // the store could not be asked now (admission queue full, store unreachable): retry after retryAfterMs
	codeRoomFull       = "room_full"     // room:join when the queue, or this invite's or address's share of it, is full
	codeTooLarge       = "too_large"     // signal above the size bounds
	codeReceiverSlow   = "receiver_slow" // signal dropped: the receiver's connection is not keeping up
)
