// server.js runs the official socket.io 4.8.4 server on loopback as a real
// peer for Go tests (signaling/internal/siotest). It implements the device and
// customer side of ../shared/docs/protocol.md just far enough to exercise a
// client, plus test events (echo, echo:back, ask) and a control HTTP server.
//
// Options: one JSON object in argv[2] or in the SIOTEST_SERVER env variable:
//   port (0 = random), transports (default ["polling","websocket"]),
//   recovery (bool), recoveryWindowMs (default 120000), pingInterval,
//   pingTimeout, maxHttpBufferSize, allowUpgrades (default true),
//   welcome (bool: on every non-recovered connection broadcast a "welcome"
//   event to the socket's own room, see below), accounts (see below).
//
// Login (docs/protocol.md "Login", room rules 3 and 8): POST /api/login
// {username, password} on the socket.io port answers {token, expiresAt,
// deviceId, roomId} for the accounts in opts.accounts (default counter-1 /
// password-1 in room-1 and counter-2 / password-2 in room-2). A device
// CONNECTs with such a token; session:verify answers the account's room and
// room:join refuses another room with "forbidden". The ctl command revoke
// {account?} expires the account's tokens and emits session:expired to its
// connected devices without disconnecting them (their sessions stay
// recoverable, as on a server that lets the client close). The fixed
// "good-token" (dev-1, room-1) keeps working as before.
// When both listeners are up it prints exactly one JSON line on stdout:
//   {"ready":true,"port":N,"ctlPort":M,"t":<ms>}
// Everything else (logs) goes to stderr. It exits when stdin closes so an
// orphaned server cannot outlive the Go test that started it.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const opts = JSON.parse(process.argv[2] || process.env.SIOTEST_SERVER || "{}");
const HOST = opts.host || "127.0.0.1";

function log(...a) {
  process.stderr.write("server: " + a.join(" ") + "\n");
}

// enc turns a value received from socket.io into JSON, binary as {"$binary": base64}.
function enc(v) {
  if (Buffer.isBuffer(v)) return { $binary: v.toString("base64") };
  if (v instanceof ArrayBuffer) return { $binary: Buffer.from(v).toString("base64") };
  if (ArrayBuffer.isView(v)) return { $binary: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = enc(v[k]);
    return o;
  }
  return v;
}

// dec is the inverse of enc: {"$binary": base64} becomes a Buffer.
function dec(v) {
  if (Array.isArray(v)) return v.map(dec);
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$binary" && typeof v.$binary === "string") {
      return Buffer.from(v.$binary, "base64");
    }
    const o = {};
    for (const k of keys) o[k] = dec(v[k]);
    return o;
  }
  return v;
}

// splitAck separates the trailing acknowledgement callback, if any.
function splitAck(args) {
  if (args.length && typeof args[args.length - 1] === "function") {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, null];
}

const LOG_CAP = 10000;
function push(list, item) {
  list.push(item);
  if (list.length > LOG_CAP) list.shift();
}

// state is what the control server reports and resets.
const state = {
  joins: [], // every room:join received
  verifies: [], // every session:verify with a login token
  replies: [], // client answers to server-emitted "question" (from "ask")
  events: [], // every event received from any client
  connections: [], // every "connection"
  disconnects: [], // every server-side "disconnect"
  expired: false, // session:verify answers session_expired
  expireConnect: false, // CONNECT with role device is refused with session_expired
};

const serverOpts = {
  transports: opts.transports || ["polling", "websocket"],
  allowUpgrades: opts.allowUpgrades !== false,
  serveClient: false,
};
if (opts.pingInterval) serverOpts.pingInterval = opts.pingInterval;
if (opts.pingTimeout) serverOpts.pingTimeout = opts.pingTimeout;
if (opts.maxHttpBufferSize) serverOpts.maxHttpBufferSize = opts.maxHttpBufferSize;
if (opts.recovery) {
  serverOpts.connectionStateRecovery = {
    maxDisconnectionDuration: opts.recoveryWindowMs || 2 * 60 * 1000,
    skipMiddlewares: true,
  };
}

const accounts = opts.accounts || {
  "counter-1": { password: "password-1", roomId: "room-1" },
  "counter-2": { password: "password-2", roomId: "room-2" },
};
const tokens = new Map(); // token -> { account, revoked }
let tokenSeq = 0;

function readJSON(req, limit, cb) {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size > limit) {
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    try {
      cb(null, JSON.parse(Buffer.concat(chunks).toString() || "{}"));
    } catch (e) {
      cb(e);
    }
  });
}

function sendJSON(res, code, v) {
  const b = JSON.stringify(v);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(b) });
  res.end(b);
}

// socket.io answers its own path and hands every other request here.
const httpServer = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/api/login") {
    return readJSON(req, 8192, (err, body) => {
      if (err) return sendJSON(res, 400, { error: "bad_request" });
      const a = accounts[body.username];
      if (!a || a.password !== body.password) return sendJSON(res, 401, { error: "invalid_credentials" });
      const token = "tok-" + ++tokenSeq + "-" + body.username;
      tokens.set(token, { account: body.username, revoked: false });
      log("login", body.username);
      sendJSON(res, 200, {
        token,
        expiresAt: new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString(),
        deviceId: "dev-" + body.username,
        roomId: a.roomId,
      });
    });
  }
  sendJSON(res, 404, { error: "not_found" });
});
const io = new Server(httpServer, serverOpts);

// Auth middleware per protocol.md "Connect".
io.use((socket, next) => {
  const a = socket.handshake.auth || {};
  if (a.role === "device" && tokens.has(a.token)) {
    const t = tokens.get(a.token);
    if (t.revoked) return next(new Error("session_expired"));
    socket.data.userId = "dev-" + t.account;
    socket.data.role = "device";
    socket.data.account = t.account;
    return next();
  }
  if (a.role === "device") {
    if (a.token === "good-token" && !state.expireConnect) {
      socket.data.userId = "dev-1";
      socket.data.role = "device";
      return next();
    }
    if (a.token === "expired-token" || (a.token === "good-token" && state.expireConnect)) {
      return next(new Error("session_expired"));
    }
    return next(new Error("unauthorized"));
  }
  if (a.role === "customer") {
    if (a.invite === "good-invite") {
      socket.data.userId = "cust-" + socket.id;
      socket.data.role = "customer";
      if (typeof a.name === "string") socket.data.name = a.name;
      return next();
    }
    return next(new Error("invite_invalid"));
  }
  return next(new Error("unauthorized"));
});

function member(s) {
  const m = { userId: s.data.userId, role: s.data.role };
  if (s.data.name !== undefined) m.name = s.data.name;
  return m;
}

io.on("connection", (socket) => {
  const transport = socket.conn.transport.name;
  // socket.io 4.8's in-memory adapter restores a session only when the
  // client's CONNECT carries both pid and offset, and an offset exists only
  // once the client received a *broadcast* event (io.emit / io.to(room).emit;
  // socket.emit carries none). "welcome" gives every client an offset at once.
  if (opts.welcome && !socket.recovered) {
    io.to(socket.id).emit("welcome", { socketId: socket.id });
  }
  push(state.connections, { socketId: socket.id, recovered: socket.recovered, transport, t: Date.now() });
  log("connection", socket.id, "recovered=" + socket.recovered, "transport=" + transport);

  socket.onAny((event, ...args) => {
    const [plain] = splitAck(args);
    push(state.events, { socketId: socket.id, event, args: enc(plain), t: Date.now() });
  });

  socket.on("session:verify", (...args) => {
    const [plain, ack] = splitAck(args);
    const tok = (plain[0] || {}).token;
    if (tokens.has(tok)) {
      const t = tokens.get(tok);
      push(state.verifies, { socketId: socket.id, account: t.account, recovered: socket.recovered, t: Date.now() });
      if (t.revoked) {
        if (ack) ack({ ok: false, error: "session_expired" });
        socket.emit("session:expired", {});
        return;
      }
      socket.data.roomId = accounts[t.account].roomId;
      if (ack) {
        ack({
          ok: true,
          deviceId: "dev-" + t.account,
          roomId: socket.data.roomId,
          expiresAt: new Date(Date.now() + 3600 * 1000).toISOString(),
          iceServers: [],
        });
      }
      return;
    }
    if (state.expired) {
      if (ack) ack({ ok: false, error: "session_expired" });
      socket.emit("session:expired", {});
      return;
    }
    if (ack) {
      ack({
        ok: true,
        deviceId: "dev-1",
        roomId: "room-1",
        expiresAt: new Date(Date.now() + 3600 * 1000).toISOString(),
        iceServers: [],
      });
    }
  });

  socket.on("room:join", (...args) => {
    const [plain, ack] = splitAck(args);
    const p = plain[0] || {};
    const roomId = p.roomId;
    push(state.joins, { socketId: socket.id, roomId, account: socket.data.account, recovered: socket.recovered, t: Date.now() });
    if (typeof roomId !== "string" || roomId === "") {
      if (ack) ack({ ok: false, error: "bad_request" });
      return;
    }
    if (socket.data.account && roomId !== socket.data.roomId) {
      if (ack) ack({ ok: false, error: socket.data.roomId ? "forbidden" : "unauthorized" });
      return;
    }
    socket.join(roomId);
    const members = [];
    for (const s of io.of("/").sockets.values()) {
      if (s.rooms.has(roomId)) members.push(member(s));
    }
    if (ack) ack({ ok: true, members });
    socket.to(roomId).emit("room:user:joined", { roomId, ...member(socket) });
  });

  socket.on("keepalive", (...args) => {
    const [plain, ack] = splitAck(args);
    const p = plain[0] || {};
    if (ack) ack({ ok: true, t: p.t, serverTime: Date.now() });
  });

  // echo acknowledges with exactly the arguments received (binary included).
  socket.on("echo", (...args) => {
    const [plain, ack] = splitAck(args);
    if (ack) ack(...plain);
  });

  // echo:back sends the arguments back as a server-to-client "echo" event.
  socket.on("echo:back", (...args) => {
    const [plain, ack] = splitAck(args);
    socket.emit("echo", ...plain);
    if (ack) ack({ ok: true });
  });

  // ask makes the server emit "question" to the sender with an acknowledgement
  // callback; the client's answer is recorded (ctl "replies") and also sent
  // back as the ack of "ask" when the client asked for one.
  socket.on("ask", (...args) => {
    const [plain, ack] = splitAck(args);
    socket.timeout(10000).emit("question", ...plain, (err, ...reply) => {
      const r = { socketId: socket.id, t: Date.now() };
      if (err) r.error = String(err.message || err);
      else r.args = enc(reply);
      push(state.replies, r);
      if (ack) {
        if (err) ack({ ok: false, error: "timeout" });
        else ack(...reply);
      }
    });
  });

  socket.on("disconnecting", (reason) => {
    for (const room of socket.rooms) {
      if (room === socket.id) continue;
      socket.to(room).emit("room:user:left", { roomId: room, userId: socket.data.userId, reason });
    }
  });

  socket.on("disconnect", (reason, description) => {
    push(state.disconnects, { socketId: socket.id, reason, t: Date.now() });
    log("disconnect", socket.id, reason, description ? String(description.message || description) : "");
  });
});

function socketsInfo() {
  const out = [];
  for (const s of io.of("/").sockets.values()) {
    out.push({
      id: s.id,
      sid: s.conn.id,
      connected: s.connected,
      recovered: s.recovered,
      transport: s.conn.transport.name,
      auth: s.handshake.auth,
      rooms: [...s.rooms],
      handshakeTime: s.handshake.issued,
    });
  }
  return out;
}

function targets(body) {
  const all = [...io.of("/").sockets.values()];
  if (body && body.id) return all.filter((s) => s.id === body.id);
  return all;
}

const commands = {
  ping: () => ({ ok: true, t: Date.now() }),
  sockets: () => socketsInfo(),
  joins: () => state.joins,
  verifies: () => state.verifies,
  // revoke {account?}: the account's login tokens (all when none is named)
  // expire; its connected devices get session:expired and stay connected.
  revoke: (body) => {
    let n = 0;
    for (const t of tokens.values()) {
      if (!body.account || t.account === body.account) t.revoked = true;
    }
    for (const s of io.of("/").sockets.values()) {
      if (s.data.account && (!body.account || s.data.account === body.account)) {
        s.emit("session:expired", {});
        n++;
      }
    }
    return { count: n };
  },
  replies: () => state.replies,
  events: () => state.events,
  connections: () => state.connections,
  disconnects: () => state.disconnects,
  // disconnectAll: socket.disconnect(true) on every socket (or body.id).
  // socket.io 4.8 sends a Socket.IO DISCONNECT first ("server namespace
  // disconnect", not recoverable) and then closes the Engine.IO connection.
  disconnectAll: (body) => {
    const ts = targets(body);
    for (const s of ts) s.disconnect(true);
    return { count: ts.length };
  },
  // disconnect: socket.disconnect(false): a namespace DISCONNECT only.
  disconnect: (body) => {
    const ts = targets(body);
    for (const s of ts) s.disconnect(false);
    return { count: ts.length };
  },
  // closeTransports closes the Engine.IO connection without a Socket.IO
  // DISCONNECT ("forced close", recoverable); {terminate:true} drops a
  // websocket's TCP connection without a close frame ("transport close").
  closeTransports: (body) => {
    const ts = targets(body);
    for (const s of ts) {
      const t = s.conn.transport;
      if (body && body.terminate && t.name === "websocket" && t.socket && t.socket.terminate) {
        t.socket.terminate();
      } else {
        s.conn.close();
      }
    }
    return { count: ts.length };
  },
  // emit {event, args, binary?: [base64...], id?, room?}: to all sockets (or
  // one socket id, or a room). args may hold {"$binary": base64} values;
  // binary entries are appended as Buffers after args.
  emit: (body) => {
    const args = dec(body.args || []);
    for (const b of body.binary || []) args.push(Buffer.from(b, "base64"));
    if (body.id) {
      const s = io.of("/").sockets.get(body.id);
      if (!s) return { ok: false, error: "no such socket" };
      s.emit(body.event, ...args);
    } else if (body.room) {
      io.to(body.room).emit(body.event, ...args);
    } else {
      io.emit(body.event, ...args);
    }
    return { ok: true };
  },
  // expire: later session:verify calls answer session_expired (and emit
  // session:expired); {connect:true} also refuses device CONNECTs with
  // session_expired; {now:true} emits session:expired to connected devices.
  expire: (body) => {
    state.expired = true;
    if (body && body.connect) state.expireConnect = true;
    if (body && body.now) {
      for (const s of io.of("/").sockets.values()) {
        if (s.data.role === "device") s.emit("session:expired", {});
      }
    }
    return { ok: true };
  },
  reset: () => {
    state.joins = [];
    state.verifies = [];
    state.replies = [];
    state.events = [];
    state.connections = [];
    state.disconnects = [];
    state.expired = false;
    state.expireConnect = false;
    return { ok: true };
  },
};

const ctl = http.createServer((req, res) => {
  const m = /^\/ctl\/([A-Za-z]+)$/.exec(req.url || "");
  const reply = (code, v) => {
    const b = JSON.stringify(v);
    res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(b) });
    res.end(b);
  };
  if (req.method !== "POST" || !m || !commands[m[1]]) {
    return reply(404, { ok: false, error: "unknown command " + req.method + " " + req.url });
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body = {};
    try {
      const raw = Buffer.concat(chunks).toString();
      if (raw.trim() !== "") body = JSON.parse(raw);
    } catch (e) {
      return reply(400, { ok: false, error: "bad json: " + e.message });
    }
    try {
      reply(200, commands[m[1]](body || {}));
    } catch (e) {
      reply(500, { ok: false, error: String(e && e.stack ? e.stack : e) });
    }
  });
});

httpServer.on("error", (e) => {
  log("listen error", e.code || "", e.message);
  // 98 = EADDRINUSE on Linux; the Go side retries on it.
  process.exit(e.code === "EADDRINUSE" ? 98 : 1);
});
ctl.on("error", (e) => {
  log("ctl error", e.message);
  process.exit(1);
});

httpServer.listen(opts.port || 0, HOST, () => {
  ctl.listen(0, HOST, () => {
    const line = { ready: true, port: httpServer.address().port, ctlPort: ctl.address().port, t: Date.now() };
    process.stdout.write(JSON.stringify(line) + "\n");
  });
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
