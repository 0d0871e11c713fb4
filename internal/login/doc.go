// Package login is the one home of password logins for the setup page and
// the hub: argon2id hashing (hash.go) under a small process-wide semaphore
// (gate.go) so a burst of logins cannot exhaust memory, and the brute-force
// limiter (limiter.go) that reserves an attempt before the password is
// checked and slows guessing per (user, address) without locking the owner
// out from a clean address.
//
// Files:
//
//	hash.go     argon2id parameters, the stored Hash, its PHC string form
//	gate.go     Gate: at most N hashes at once, a bounded queue, ErrBusy
//	limiter.go  Limiter: Reserve → Attempt.Fail/Succeed/Release
package login
