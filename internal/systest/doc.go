// Package systest holds the whole-product system tests: the real tetherd
// binary against an independent reference server written from the room
// contract alone (refserver/, on the official Node socket.io server with
// connection state recovery on), with customers in headless Chromium on a
// page written from the W3C Perfect Negotiation example.
//
// The tests need root (network namespaces), node and Chromium; each skips
// with the reason when one is missing. TETHER_W3C_CHANGES=N runs N
// customer changes per page variant instead of the default few.
package systest
