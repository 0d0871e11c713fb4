// server.js is an independent reference server for the room protocol v1
// (../shared/docs/protocol.md, and the project's docs/protocol.md only where
// the contract is silent), written from those documents alone on the
// official socket.io 4.8 server with connection state recovery on. It shares
// no code with signaling/hub: internal/systest runs the real tetherd against
// it to prove the appliance works with any server that follows the contract.
//
// Options: one JSON object in argv[2] or the REFSERVER env variable:
//   host (default 127.0.0.1), port (0 = random), adminPort (0 = random),
//   accounts: [{username, password, deviceId, roomId}],
//   invites: {"<code>": "<roomId>"},
//   stateFile: where issued tokens are kept (so a kill -9 and restart keeps
//     sessions, as a real server's database would),
//   sessionTtlS (default 30 days), recoveryWindowMs (default 120000),
//   leaveGraceMs: how long a customer whose transport dropped keeps its
//     place before it counts as gone (default recoveryWindowMs),
//   pingInterval, pingTimeout (socket.io defaults when absent),
//   ownPageDir: Tether's built customer page, served at /c/{invite} (see
//     ownPage; the benchmark's baseline).
// When both listeners are up it prints one JSON line on stdout:
//   {"ready":true,"port":N,"adminPort":M}
// Logs go to stderr. It exits when stdin closes, so an orphan cannot outlive
// the Go test that started it.
//
// The admin listener is the test's control channel (not part of the
// contract): GET /events?since=N (the event log), GET /state, POST
// /expire?username=U (session:expired), POST /disconnect?userId=X&mode=
// disconnect|transport (a server-side disconnect: a Socket.IO DISCONNECT, or
// only the transport closed, which connection state recovery can resume).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const path = require("path");
const { Server } = require("socket.io");

const opts = JSON.parse(process.argv[2] || process.env.REFSERVER || "{}");
const HOST = opts.host || "127.0.0.1";
const RECOVERY_MS = opts.recoveryWindowMs || 120000;
const LEAVE_GRACE_MS = opts.leaveGraceMs || RECOVERY_MS;
const SESSION_TTL_MS = (opts.sessionTtlS || 30 * 24 * 3600) * 1000;
const MAX_BODY = 64 << 10; // login bodies and admin requests
const MAX_EVENTS = 200000; // the event log keeps the newest ones
const PUBLIC = path.join(__dirname, "public");
const CLIENT_JS = path.join(__dirname, "node_modules", "socket.io-client", "dist", "socket.io.min.js");

function log(...a) {
  process.stderr.write("refserver: " + a.join(" ") + "\n");
}

// now is wall-clock milliseconds with sub-millisecond resolution, comparable
// with Date.now() in the browser on the same host.
const now = () => performance.timeOrigin + performance.now();

// ---- event log (read by the test through the admin API) ----

const events = [];
let seq = 0;
function record(ev, fields) {
  seq++;
  events.push(Object.assign({ seq, t: now(), ev }, fields));
  if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
}

// ---- accounts, invites and sessions ----

const accounts = new Map(); // username → {username, password, deviceId, roomId}
for (const a of opts.accounts || []) accounts.set(a.username, a);
const invites = new Map(Object.entries(opts.invites || {})); // code → roomId

// tokens: token → {username, expiresAt (ms)}. Persisted to stateFile on every
// change (write and rename) so sessions survive a kill -9.
let tokens = new Map();
if (opts.stateFile && fs.existsSync(opts.stateFile)) {
  tokens = new Map(Object.entries(JSON.parse(fs.readFileSync(opts.stateFile, "utf8")).tokens || {}));
}
function saveTokens() {
  if (!opts.stateFile) return;
  const tmp = opts.stateFile + ".tmp";
  fs.writeFileSync(tmp, JSON.stringify({ tokens: Object.fromEntries(tokens) }));
  fs.renameSync(tmp, opts.stateFile);
}

// session returns the token's account, or an error code of the contract.
function session(token) {
  const s = typeof token === "string" ? tokens.get(token) : undefined;
  if (!s) return { error: "unauthorized" };
  if (s.expiresAt <= Date.now()) return { error: "session_expired" };
  const a = accounts.get(s.username);
  if (!a) return { error: "unauthorized" };
  return { account: a, expiresAt: s.expiresAt };
}

// ---- rooms ----
// A room has at most one device socket, one customer in the call and a
// queue of waiting customers (contract: one customer at a time, others wait
// in order). Customers are keyed by userId; sockets are looked up by id.

const rooms = new Map();
function room(id) {
  let r = rooms.get(id);
  if (!r) {
    r = { id, deviceId: null, deviceSid: null, call: null, queue: [], customers: new Map() };
    rooms.set(id, r);
  }
  return r;
}
const sock = (sid) => (sid ? io.sockets.sockets.get(sid) : undefined);
const leaveTimers = new Map(); // customer userId → timer while its transport is down

function emitTo(sid, ev, payload) {
  const s = sock(sid);
  if (!s) return false;
  s.emit(ev, payload);
  record("emit", { to: s.data.userId, sid, event: ev, payload });
  return true;
}

function customerEntry(r, userId) {
  return r.customers.get(userId);
}

// positions tells every waiting customer its place (1 = next).
function positions(r) {
  r.queue.forEach((u, i) => {
    const c = customerEntry(r, u);
    if (c && c.position !== i + 1) {
      c.position = i + 1;
      emitTo(c.sid, "queue:position", { position: i + 1 });
    }
  });
}

// introduce tells the device and the customer in the call about each other
// (docs/protocol.md room rule 4: queue:position 0, then room:user:joined
// both ways; the appliance, impolite, offers at once).
function introduce(r) {
  if (!r.call || !r.deviceSid || !sock(r.deviceSid)) return;
  const c = customerEntry(r, r.call);
  if (!c) return;
  emitTo(c.sid, "room:user:joined", { roomId: r.id, userId: r.deviceId, role: "device" });
  emitTo(r.deviceSid, "room:user:joined", { roomId: r.id, userId: c.userId, role: "customer", name: c.name });
}

function promote(r) {
  if (!r.call && r.queue.length) {
    const u = r.queue.shift();
    const c = customerEntry(r, u);
    r.call = u;
    c.position = 0;
    emitTo(c.sid, "queue:position", { position: 0 });
    introduce(r);
  }
  positions(r);
}

// removeCustomer takes a customer out of its room. why is "ended" (call:ended
// went to both sides already) or a room:user:left reason.
function removeCustomer(r, userId, why) {
  const c = customerEntry(r, userId);
  if (!c) return;
  r.customers.delete(userId);
  const t = leaveTimers.get(userId);
  if (t) clearTimeout(t);
  leaveTimers.delete(userId);
  const s = sock(c.sid);
  if (s) s.leave("room:" + r.id);
  if (r.call === userId) {
    r.call = null;
    if (why !== "ended" && r.deviceSid) emitTo(r.deviceSid, "room:user:left", { roomId: r.id, userId, reason: why });
  } else {
    r.queue = r.queue.filter((u) => u !== userId);
  }
  promote(r);
}

function members(r) {
  const m = [];
  if (r.deviceSid && sock(r.deviceSid)) m.push({ userId: r.deviceId, role: "device" });
  if (r.call) {
    const c = customerEntry(r, r.call);
    if (c) m.push({ userId: c.userId, role: "customer", name: c.name });
  }
  return m;
}

// ---- HTTP: login, the test pages, the client library ----

function readBody(req, cb) {
  const chunks = [];
  let n = 0;
  req.on("data", (c) => {
    n += c.length;
    if (n > MAX_BODY) {
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => cb(Buffer.concat(chunks).toString("utf8")));
}

function json(res, status, v) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(v));
}

function sendFile(res, file, type) {
  fs.readFile(file, (err, b) => {
    if (err) return json(res, 404, { error: "not_found" });
    res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
    res.end(b);
  });
}

function login(req, res) {
  readBody(req, (body) => {
    let u;
    try {
      u = JSON.parse(body);
    } catch {
      return json(res, 400, { error: "bad_request" });
    }
    const a = u && accounts.get(u.username);
    if (!a || typeof u.password !== "string" || a.password !== u.password) {
      record("login", { username: u && u.username, ok: false });
      return json(res, 401, { error: "invalid_credentials" });
    }
    const token = crypto.randomBytes(24).toString("base64url");
    const expiresAt = Date.now() + SESSION_TTL_MS;
    tokens.set(token, { username: a.username, expiresAt });
    saveTokens();
    record("login", { username: a.username, ok: true, token: token.slice(0, 6) });
    json(res, 200, { token, expiresAt: new Date(expiresAt).toISOString(), deviceId: a.deviceId, roomId: a.roomId });
  });
}

// ownPage serves Tether's own customer page (signaling/hub/web/dist) at
// /c/{invite} with the one hub route it needs beyond the contract, GET
// /api/invites/{code} → {roomId}, so the benchmark can measure it beside
// the W3C page in the same run.
function ownPage(req, res, url) {
  const dir = opts.ownPageDir;
  if (!dir || req.method !== "GET") return false;
  const inv = url.pathname.match(/^\/api\/invites\/([^/]+)$/);
  if (inv) {
    const r = invites.get(decodeURIComponent(inv[1]));
    if (!r) json(res, 404, { error: "invite_invalid" });
    else json(res, 200, { roomId: r });
    return true;
  }
  if (/^\/c\/[^/]+\/?$/.test(url.pathname)) {
    sendFile(res, path.join(dir, "index.html"), "text/html; charset=utf-8");
    return true;
  }
  const types = { "/app.js": "text/javascript", "/app.css": "text/css" };
  if (types[url.pathname]) {
    sendFile(res, path.join(dir, url.pathname.slice(1)), types[url.pathname]);
    return true;
  }
  return false;
}

const httpServer = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "POST" && url.pathname === "/api/login") return login(req, res);
  if (ownPage(req, res, url)) return;
  if (req.method === "GET" && url.pathname === "/lib/socket.io.min.js") return sendFile(res, CLIENT_JS, "text/javascript");
  if (req.method === "GET" && /^\/[a-z0-9-]+\.html$/.test(url.pathname)) {
    return sendFile(res, path.join(PUBLIC, url.pathname.slice(1)), "text/html; charset=utf-8");
  }
  json(res, 404, { error: "not_found" });
});

// ---- Socket.IO ----

const ioOpts = {
  // The official recovery: a socket whose transport dropped comes back with
  // its id, rooms and data, and gets what it missed; the connect middleware
  // is skipped for it.
  connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true },
  maxHttpBufferSize: MAX_BODY,
  serveClient: false,
};
// Only when given: an undefined value would replace socket.io's default.
if (opts.pingInterval) ioOpts.pingInterval = opts.pingInterval;
if (opts.pingTimeout) ioOpts.pingTimeout = opts.pingTimeout;
const io = new Server(httpServer, ioOpts);

// CONNECT auth (contract "Connect").
io.use((socket, next) => {
  const a = socket.handshake.auth || {};
  const fail = (msg) => {
    record("connect_error", { role: a.role, message: msg });
    next(new Error(msg));
  };
  if (a.role === "device") {
    const s = session(a.token);
    if (s.error) return fail(s.error);
    socket.data = { role: "device", userId: s.account.deviceId, username: s.account.username, verified: false };
    return next();
  }
  if (a.role === "customer") {
    const r = typeof a.invite === "string" ? invites.get(a.invite) : undefined;
    if (!r) return fail("invite_invalid");
    const name = typeof a.name === "string" ? a.name.slice(0, 64) : undefined;
    socket.data = { role: "customer", userId: "cus-" + crypto.randomBytes(8).toString("hex"), inviteRoom: r, name };
    return next();
  }
  fail("unauthorized");
});

const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
const reply = (ack, v) => {
  if (typeof ack === "function") ack(v);
};

io.on("connection", (socket) => {
  const d = socket.data;
  record("connect", { sid: socket.id, role: d.role, userId: d.userId, username: d.username, recovered: socket.recovered,
    transport: socket.conn.transport.name });
  if (socket.recovered) {
    const t = leaveTimers.get(d.userId);
    if (t) clearTimeout(t);
    leaveTimers.delete(d.userId);
    if (d.joined) {
      const r = room(d.joined);
      if (d.role === "device" && r.deviceId === d.userId && !r.deviceSid) r.deviceSid = socket.id;
      if (d.role === "customer") {
        const c = customerEntry(r, d.userId);
        if (c) c.sid = socket.id;
      }
    }
  }

  socket.on("session:verify", (p, ack) => {
    if (d.role !== "device") return reply(ack, { ok: false, error: "forbidden" });
    const s = session(isObj(p) ? p.token : undefined);
    record("session:verify", { sid: socket.id, userId: d.userId, ok: !s.error, error: s.error,
      username: s.account && s.account.username });
    if (s.error) return reply(ack, { ok: false, error: s.error });
    // The token may name another account than the one the socket connected
    // with (a new login): the verified account is the socket's from now on.
    Object.assign(d, { verified: true, userId: s.account.deviceId, username: s.account.username });
    reply(ack, { ok: true, deviceId: s.account.deviceId, roomId: s.account.roomId,
      expiresAt: new Date(s.expiresAt).toISOString(), iceServers: [] });
  });

  socket.on("room:join", (p, ack) => {
    const roomId = isObj(p) && typeof p.roomId === "string" ? p.roomId : null;
    const done = (v) => {
      record("room:join", { sid: socket.id, userId: d.userId, role: d.role, roomId, ok: v.ok, error: v.error });
      reply(ack, v);
    };
    if (!roomId) return done({ ok: false, error: "bad_request" });
    if (d.role === "device") {
      if (!d.verified) return done({ ok: false, error: "unauthorized" });
      const a = accounts.get(d.username);
      if (!a || a.roomId !== roomId) return done({ ok: false, error: "forbidden" });
      const r = room(roomId);
      // A second socket of the same counter wins; the older one goes.
      if (r.deviceSid && r.deviceSid !== socket.id) {
        const old = sock(r.deviceSid);
        if (old) old.disconnect(true);
      }
      // A counter that switched accounts leaves its old room.
      if (d.joined && d.joined !== roomId) {
        const o = room(d.joined);
        if (o.deviceSid === socket.id) o.deviceSid = null;
        socket.leave("room:" + d.joined);
      }
      r.deviceId = d.userId;
      r.deviceSid = socket.id;
      d.joined = roomId;
      socket.join("room:" + roomId);
      done({ ok: true, members: members(r) });
      // The customer in the call learns the counter is (back) in the room.
      if (r.call) {
        const c = customerEntry(r, r.call);
        if (c) emitTo(c.sid, "room:user:joined", { roomId, userId: d.userId, role: "device" });
      }
      return;
    }
    if (roomId !== d.inviteRoom) return done({ ok: false, error: "forbidden" });
    const r = room(roomId);
    let c = customerEntry(r, d.userId);
    const fresh = !c;
    if (fresh) {
      c = { userId: d.userId, sid: socket.id, name: d.name, position: -1 };
      r.customers.set(d.userId, c);
      r.queue.push(d.userId);
      d.joined = roomId;
      socket.join("room:" + roomId);
    }
    const pos = r.call === d.userId ? 0 : r.queue.indexOf(d.userId) + 1;
    done({ ok: true, userId: d.userId, position: pos, members: members(r).concat(r.call === d.userId ? [] : [
      { userId: d.userId, role: "customer", name: d.name }]) });
    if (fresh) promote(r);
  });

  socket.on("call:ended", (p, ack) => {
    const r = d.joined ? room(d.joined) : null;
    const reason = isObj(p) && typeof p.reason === "string" ? p.reason.slice(0, 64) : "ended";
    record("call:ended", { sid: socket.id, userId: d.userId, role: d.role, payload: p });
    if (!r) return reply(ack, { ok: false, error: "not_joined" });
    let cust = null;
    if (d.role === "device") {
      cust = isObj(p) ? p.userId : null;
      if (!cust || cust !== r.call) return reply(ack, { ok: false, error: "not_in_call" });
    } else if (r.call === d.userId) {
      cust = d.userId;
    } else {
      // A waiting customer leaves the queue.
      removeCustomer(r, d.userId, "left");
      return reply(ack, { ok: true });
    }
    const c = customerEntry(r, cust);
    const ev = { roomId: r.id, userId: cust, reason };
    if (r.deviceSid) emitTo(r.deviceSid, "call:ended", ev);
    if (c) emitTo(c.sid, "call:ended", ev);
    removeCustomer(r, cust, "ended");
    reply(ack, { ok: true });
  });

  socket.on("signal", (p, ack) => {
    if (!isObj(p) || typeof p.to !== "string" || (p.description === undefined && p.candidate === undefined)) {
      record("signal", { sid: socket.id, from: d.userId, ok: false, error: "bad_request" });
      return reply(ack, { ok: false, error: "bad_request" });
    }
    const r = d.joined ? room(d.joined) : null;
    let target = null;
    if (r && d.role === "device" && r.deviceSid === socket.id && r.call === p.to) {
      const c = customerEntry(r, p.to);
      target = c && c.sid;
    } else if (r && d.role === "customer" && r.call === d.userId && p.to === r.deviceId) {
      target = r.deviceSid;
    }
    const kind = p.description ? p.description.type : p.candidate ? "candidate" : "end-of-candidates";
    const s = sock(target);
    if (!s) {
      record("signal", { sid: socket.id, from: d.userId, to: p.to, kind, ok: false, error: "not_in_call" });
      return reply(ack, { ok: false, error: "not_in_call" });
    }
    const out = { from: d.userId };
    if (p.description !== undefined) out.description = p.description;
    if (p.candidate !== undefined) out.candidate = p.candidate;
    s.emit("signal", out);
    record("signal", { sid: socket.id, from: d.userId, to: p.to, kind, ok: true });
    reply(ack, { ok: true });
  });

  socket.on("keepalive", (p, ack) => {
    reply(ack, { ok: true, t: isObj(p) ? p.t : undefined, serverTime: Date.now() });
  });

  socket.on("device:status", (p) => {
    if (d.role === "device") record("device:status", { sid: socket.id, userId: d.userId, payload: p });
  });

  socket.on("disconnect", (reason) => {
    record("disconnect", { sid: socket.id, userId: d.userId, role: d.role, reason });
    if (!d.joined) return;
    const r = room(d.joined);
    // A DISCONNECT either side sent ends the session; a dropped transport
    // may come back through connection state recovery.
    const final = reason === "client namespace disconnect" || reason === "server namespace disconnect";
    if (d.role === "device") {
      if (r.deviceSid === socket.id) r.deviceSid = null;
      return;
    }
    if (final) return removeCustomer(r, d.userId, "disconnect");
    const c = customerEntry(r, d.userId);
    if (c) c.sid = null;
    leaveTimers.set(d.userId, setTimeout(() => removeCustomer(r, d.userId, "disconnect"), LEAVE_GRACE_MS));
  });
});

// ---- admin (test control) ----

const admin = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const q = (k) => url.searchParams.get(k) || "";
  if (req.method === "GET" && url.pathname === "/events") {
    // seq numbers are consecutive: the first one after since is found
    // by its distance from the oldest kept.
    const since = Number(q("since")) || 0;
    const from = events.length ? Math.max(0, since - events[0].seq + 1) : 0;
    return json(res, 200, { seq, events: events.slice(from) });
  }
  if (req.method === "GET" && url.pathname === "/state") {
    const out = {};
    for (const [id, r] of rooms) {
      out[id] = { deviceId: r.deviceId, deviceOnline: !!sock(r.deviceSid), call: r.call, queue: r.queue };
    }
    return json(res, 200, { rooms: out, sockets: io.sockets.sockets.size });
  }
  if (req.method === "POST" && url.pathname === "/expire") {
    // The account's sessions end: every token is expired, and its device
    // sockets get session:expired (contract: stop retrying, login needed).
    const u = q("username");
    let n = 0;
    for (const [, s] of tokens) {
      if (s.username === u) {
        s.expiresAt = Date.now() - 1;
        n++;
      }
    }
    saveTokens();
    for (const [, s] of io.sockets.sockets) {
      if (s.data.role === "device" && s.data.username === u) {
        s.emit("session:expired", {});
        record("emit", { to: s.data.userId, sid: s.id, event: "session:expired" });
      }
    }
    return json(res, 200, { ok: true, tokens: n });
  }
  if (req.method === "POST" && url.pathname === "/disconnect") {
    const id = q("userId");
    let n = 0;
    for (const [, s] of io.sockets.sockets) {
      if (s.data.userId !== id) continue;
      n++;
      record("admin:disconnect", { sid: s.id, userId: id, mode: q("mode") });
      if (q("mode") === "transport") s.conn.close();
      else s.disconnect(true);
    }
    return json(res, 200, { ok: true, sockets: n });
  }
  json(res, 404, { error: "not_found" });
});

let up = 0;
function ready() {
  if (++up < 2) return;
  process.stdout.write(JSON.stringify({ ready: true, port: httpServer.address().port, adminPort: admin.address().port }) + "\n");
  log("listening on", HOST + ":" + httpServer.address().port, "admin", admin.address().port);
}
for (const [srv, port] of [[httpServer, opts.port || 0], [admin, opts.adminPort || 0]]) {
  srv.on("error", (e) => {
    log("listen:", e.message);
    process.exit(e.code === "EADDRINUSE" ? 98 : 1);
  });
  srv.listen(port, HOST, ready);
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
