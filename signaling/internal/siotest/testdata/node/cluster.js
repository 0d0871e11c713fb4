// cluster.js runs the official socket.io 4.8.4 server with the official
// Redis adapter (@socket.io/redis-adapter 8.3.0 on ioredis 5.9.3) as a
// node of a cluster for Go tests (siotest.StartClusterServer, issue 17).
//
// Options: one JSON object in argv[2]: redisPath (unix socket of the
// redis-server) or redisPort, port (0 = random), key (the adapter's key).
// Client events:
//   join(room, ack)               socket.join(room); ack(socket.id)
//   say({room, event, data})      io.to(room).emit(event, data)
//   fetch(room, ack)              ack(ids of io.in(room).fetchSockets())
//   sse({event, data}, ack)       io.serverSideEmit(event, data); ack(true)
//   count(ack)                    ack(io.of("/").adapter.serverCount())
// Server-side events from other nodes named "relay" are emitted as
// "relayed" to data.room. Prints {"ready":true,"port":N} on stdout; exits
// when stdin closes.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const Redis = require("ioredis");

const opts = JSON.parse(process.argv[2] || "{}");
function log(...a) {
  process.stderr.write("cluster: " + a.join(" ") + "\n");
}

const redisOpts = opts.redisPath ? { path: opts.redisPath } : { host: "127.0.0.1", port: opts.redisPort };
const pub = new Redis(redisOpts);
const sub = pub.duplicate();
pub.on("error", (e) => log("pub:", e.message));
sub.on("error", (e) => log("sub:", e.message));

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, {
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: opts.key || "socket.io", requestsTimeout: 3000 }),
});

io.on("relay", (data) => {
  log("relay from another node", JSON.stringify(data));
  if (data && typeof data.room === "string") io.to(data.room).emit("relayed", data);
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(socket.id);
  });
  socket.on("say", (m) => {
    if (m && typeof m.room === "string" && typeof m.event === "string") io.to(m.room).emit(m.event, m.data);
  });
  socket.on("fetch", async (room, ack) => {
    try {
      const socks = await io.in(room).fetchSockets();
      ack(socks.map((s) => s.id).sort());
    } catch (e) {
      ack({ error: e.message });
    }
  });
  socket.on("sse", (m, ack) => {
    io.serverSideEmit(m.event, m.data);
    if (typeof ack === "function") ack(true);
  });
  socket.on("count", async (ack) => {
    ack(await io.of("/").adapter.serverCount());
  });
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

// Ready once both Redis connections are up and the server listens.
Promise.all([
  new Promise((r) => pub.once("ready", r)),
  new Promise((r) => sub.once("ready", r)),
]).then(() => {
  httpServer.listen(opts.port || 0, "127.0.0.1", () => {
    // Give the adapter's (p)subscribe a moment to be confirmed: ioredis
    // queues them on the sub connection in order, so a PING after them
    // answers once they are.
    sub.ping().then(() => {
      process.stdout.write(JSON.stringify({ ready: true, port: httpServer.address().port }) + "\n");
    });
  });
});
