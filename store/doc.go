// Package store keeps the appliance state that must survive a power cut in
// one bbolt file: settings, the hub session, device identity, link state and
// history, the setup-page password hash and a bounded event log. It never
// turns a damaged file into a boot loop: a file that fails its checks is moved
// aside and the device comes up with defaults.
//
// Every method is one bbolt transaction and safe for concurrent use, so a
// reader never sees half of a write and a SIGKILL or power cut leaves either
// the old or the new value (bbolt's copy-on-write pages and double meta page).
// NewMem returns the same *Store backed by memory for other packages' tests.
// The layout (buckets, keys, schema versions) is documented in docs/store.md.
package store
