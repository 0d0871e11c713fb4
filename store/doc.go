// Package store keeps the appliance state that must survive a power cut in one
// bbolt file: settings, the hub session, device identity, link history, the
// setup-page password hash and a bounded event log.
//
// It is safe for concurrent use: every call is one bbolt transaction, so a
// reader never sees half of a write and a SIGKILL or power cut leaves either
// the old or the new value (bbolt's copy-on-write pages and double meta page).
// A file that cannot be opened as a store is moved aside and replaced by a
// fresh one (see Open), so a damaged SD card never turns into a boot loop.
// NewMem returns the same *Store backed by memory for other packages' tests.
// The layout (buckets, keys, schema versions) is documented in docs/store.md.
package store
