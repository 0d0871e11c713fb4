package auth

import "time"

// backend is where a Store keeps its records. Two implement it: bbolt, one
// file on one hub (the zero-setup default), and Redis, shared by every hub
// node of a cluster (issue 17). The Store keeps all the rules (hashing,
// tokens, invite MACs, expiry and revocation checks); a backend only keeps
// records, and each method is atomic on its own.
type backend interface {
	// secret returns the named secret, storing fresh when there is none
	// yet; the first writer wins, so every node gets the same one.
	secret(name string, fresh []byte) ([]byte, error)
	// addAccount stores a new account: ErrExists when the name, or for a
	// counter its room, is taken.
	addAccount(r accountRecord) error
	account(name string) (accountRecord, bool, error)
	// accounts lists every account in name order.
	accounts() ([]accountRecord, error)
	roomOwner(roomID string) (accountRecord, bool, error)
	// revoke stamps the account's RevokedAt and deletes its sessions,
	// returning how many; ErrNotFound for an unknown account.
	revoke(name string, at time.Time) (int, error)

	// session finds a session by its key (hex SHA-256 of the token) with
	// its account (ok false when the account is gone).
	session(key string) (s Session, found bool, a accountRecord, ok bool, err error)
	putSession(key string, s Session) error
	// slideSession stores s again only while the session still exists
	// and its account was not revoked after it began; false otherwise.
	slideSession(key string, s Session) (bool, error)
	deleteSession(key string) error
	// pruneSessions deletes the sessions expired at now.
	pruneSessions(now time.Time) (int, error)

	putInvite(inv Invite) error
	invite(id string) (Invite, bool, error)
	invites() ([]Invite, error)
	// revokeInvite marks an invite revoked; ErrNotFound when unknown.
	revokeInvite(id string) error

	close() error
}
