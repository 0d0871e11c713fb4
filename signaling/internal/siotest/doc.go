// Package siotest starts the official Node socket.io 4.8.4 server and
// socket.io-client 4.8.4 (testdata/node, pinned by package-lock.json) on
// loopback as real peers for Go tests, and offers misbehaving Go-side peers
// (a tarpit, a garbage websocket server) for negative tests.
//
// Every process, listener and goroutine it starts is bound to the calling
// test through t.Cleanup, and every wait is bounded by a context or timeout.
// Tests skip with a clear message when node is not installed or the npm
// packages cannot be installed ("run `make npm`").
//
// Facts about socket.io 4.8 measured by this package's own tests:
//   - Server-side socket.disconnect(true) (ctl "disconnectAll") sends a
//     Socket.IO DISCONNECT first, so the server-side reason is "server
//     namespace disconnect" (not recoverable) and the official client reports
//     "io server disconnect" and stays disconnected (socket.active == false).
//   - Closing only the Engine.IO connection (ctl "closeTransports") gives the
//     server reason "forced close" (recoverable) and the client reason
//     "transport close"; the client reconnects on its backoff.
//   - Connection state recovery restores the session (same socket id, rooms,
//     socket.recovered == true) only when the reconnecting client's CONNECT
//     auth carries both "pid" (from the server's CONNECT reply) and "offset".
//     The offset is the trailing string argument of the last *broadcast* event
//     the client received (io.emit / io.to(room).emit; socket.emit adds none),
//     and the official client treats ANY event whose last argument is a string
//     as carrying an offset. A client that has received no broadcast is not
//     recovered. ServerOptions.Welcome makes the server broadcast a "welcome"
//     event to each new socket's own room so every client holds an offset.
//   - With recovery, middlewares are skipped (skipMiddlewares) and the
//     recovered socket still fires the server's "connection" handler.
//   - A message over maxHttpBufferSize: server reason "transport error",
//     client reason "transport close", then the client reconnects.
//   - A SIGSTOPped server (Server.Stop): the client reports "ping timeout"
//     after pingInterval + pingTimeout and retries on its backoff.
//   - transports ["polling"] on the server refuses websocket; the seed's
//     client (websocket first, tryAllTransports) then opens over polling.
//
// The control server (Server.Ctl) takes POST /ctl/<cmd> with a JSON body:
// ping, sockets, joins, verifies, events, connections, disconnects, replies,
// disconnectAll {id?}, disconnect {id?}, closeTransports {id?, terminate?},
// emit {event, args, binary?, id?, room?}, expire {connect?, now?},
// revoke {account?}, reset. The server also answers POST /api/login for two
// counter accounts in two rooms (Server.Login, Account1, Account2).
// testdata/node/server.js and client.js document their options and output.
package siotest
