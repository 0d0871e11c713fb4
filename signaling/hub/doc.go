// Package hub is Tether's signalling hub, the reference implementation of
// room protocol v1 (../shared/docs/protocol.md): counter logins, customer
// invites, one room per counter with a queue of customers, signal
// forwarding, an embedded TURN server, persistence in bbolt and metrics.
//
// One goroutine (Hub.Run's loop) owns every room; socket handlers and
// timers only send closures into it. Durable state (accounts, sessions,
// invites, secrets) is in package auth, which the handlers call before they
// enter the loop, so a disk sync never stalls the rooms. What the contract
// leaves open is decided in docs/protocol.md, "Hub".
package hub
