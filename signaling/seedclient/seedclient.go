// Package seedclient lends the official socket.io-client harness of
// signaling/internal/siotest (socket.io-client 4.8.4 from npm, with the
// seed's reconnection settings) to code outside signaling: cmd/tether-bench
// runs it beside the real tetherd as the baseline of the reconnect figures.
// It adds nothing; the harness stays in one place.
package seedclient

import (
	"testing"

	"tether/signaling/internal/siotest"
)

// Options are siotest.ClientOptions (the seed's settings are always on).
type Options = siotest.ClientOptions

// Client is a running official client; see siotest.Client.
type Client = siotest.Client

// Event is one line the official client printed.
type Event = siotest.ClientEvent

// Start starts the official client against url (a hub's base URL); it is
// killed at t's cleanup and skips t when node is unavailable.
func Start(t testing.TB, url string, o Options) *Client { return siotest.StartClient(t, url, o) }
