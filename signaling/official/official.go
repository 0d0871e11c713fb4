// Package official lends the harness of the official Node socket.io 4.8.4
// server and socket.io-client 4.8.4 (signaling/internal/siotest, pinned by
// its package-lock.json) to code outside signaling: cmd/tether-bench runs
// the client with the seed's settings beside tetherd, and the server as
// the baseline of the hub's idle sockets. It adds nothing; the harness
// stays in one place.
package official

import (
	"testing"

	"tether/signaling/internal/siotest"
)

// ClientOptions are siotest.ClientOptions (the seed's reconnection
// settings are always on).
type ClientOptions = siotest.ClientOptions

// Client is a running official client; see siotest.Client.
type Client = siotest.Client

// Event is one line the official client printed.
type Event = siotest.ClientEvent

// ServerOptions are siotest.ServerOptions.
type ServerOptions = siotest.ServerOptions

// Server is a running official server; see siotest.Server.
type Server = siotest.Server

// Invite is the customer invite the official server accepts.
const Invite = "good-invite"

// StartClient starts the official client against url (a hub's base URL);
// it is killed at t's cleanup and skips t when node is unavailable.
func StartClient(t testing.TB, url string, o ClientOptions) *Client {
	return siotest.StartClient(t, url, o)
}

// StartServer starts the official server on loopback; it is killed at
// t's cleanup and skips t when node is unavailable.
func StartServer(t testing.TB, o ServerOptions) *Server { return siotest.StartServer(t, o) }
