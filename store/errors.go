package store

import "errors"

// Sentinel errors. Callers match them with errors.Is; the store wraps them with
// the operation, the path or the record key.
var (
	// ErrLocked means another process holds the file lock (bbolt flock) for
	// longer than Options.LockTimeout: usually a second tetherd.
	ErrLocked = errors.New("store: file is locked by another process")

	// ErrCorruptRecord means a stored value could not be decoded: bad JSON, a
	// missing or unknown record version, or a field out of range. The error
	// names the bucket and key.
	ErrCorruptRecord = errors.New("store: corrupt record")

	// ErrCorruptFile means the file is not a readable bbolt store of ours. Open
	// does not return it; it moves such a file aside and starts fresh (see
	// (*Store).Recovered).
	ErrCorruptFile = errors.New("store: corrupt file")

	// ErrNoSession means no hub session is stored: login needed.
	ErrNoSession = errors.New("store: no session")

	// ErrNoPassword means no setup-page password has been chosen yet.
	ErrNoPassword = errors.New("store: no setup password")

	// ErrNoCert means the setup page's TLS certificate was not made yet.
	ErrNoCert = errors.New("store: no setup certificate")

	// ErrInvalid means an argument was rejected before anything was written.
	ErrInvalid = errors.New("store: invalid argument")

	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("store: closed")

	// ErrSchemaTooNew means the file was written by a newer release (for
	// example after a firmware rollback). Open treats it like a corrupt file.
	ErrSchemaTooNew = errors.New("store: schema newer than this release")
)
