// Package auth keeps the hub's durable state in bbolt: counter and operator
// accounts (argon2id password hashes), session tokens (stored only as their
// SHA-256, with a sliding expiry), signed expiring invite codes and the hub's
// secrets. It also rate-limits wrong passwords per username and per address.
//
// Everything here is synchronous and safe for concurrent use; the hub calls
// it from request goroutines, never from its room loop, because a bbolt
// commit waits for fsync.
package auth
