// client.js runs the official socket.io-client 4.8.4 configured exactly as the
// seed (../shared/seed/persistent-connection-architecture-v2.en.md, "Socket.IO
// layer"), as the baseline our Go client is measured against.
//
// Options: one JSON object in argv[2] or in the SIOTEST_CLIENT env variable:
//   url (required), transports (default ["websocket","polling"]),
//   token (default "good-token"), auth (replaces the whole auth payload),
//   roomId (default "room-1"), noVerify (skip session:verify, for customers),
//   noJoin (skip room:join), ackTimeoutMs (default 10000).
// On every "connect" it emits session:verify and then room:join with acks
// (the seed's flow). It prints one JSON line per event on stdout:
//   {"ev":"connect","t":<ms>,"id":..,"recovered":bool,"transport":..}
//   {"ev":"disconnect","t":..,"reason":..}   {"ev":"reconnect_attempt","n":N}
//   {"ev":"reconnect","n":N}   {"ev":"reconnect_error","error":..}
//   {"ev":"connect_error","error":..}  {"ev":"verified","ack":{..}}
//   {"ev":"joined","ack":{..}}  {"ev":"upgrade","transport":..}
//   {"ev":"event","event":name,"args":[..]}   (every server event)
//   {"ev":"ack","ackId":N,"args":[..]} / {"ev":"ack","ackId":N,"error":..}
//   {"ev":"state","connected":bool,"active":bool,"id":..,"transport":..}
// Binary values are printed as {"$binary": base64}. Commands are read from
// stdin, one JSON line each: {"cmd":"emit","event":..,"args":[..],"ackId":N?}
// (with ackId: emitted with an ack, answered by an "ack" line),
// {"cmd":"disconnect"}, {"cmd":"connect"}, {"cmd":"state"} (answered by a
// "state" line; active=false means the client will not reconnect by itself).
// It exits when stdin closes.
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

const opts = JSON.parse(process.argv[2] || process.env.SIOTEST_CLIENT || "{}");
const ackTimeout = opts.ackTimeoutMs || 10000;
const roomId = opts.roomId || "room-1";
const token = opts.token === undefined ? "good-token" : opts.token;

function enc(v) {
  if (typeof Buffer !== "undefined" && Buffer.isBuffer(v)) return { $binary: v.toString("base64") };
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

function out(ev, fields) {
  process.stdout.write(JSON.stringify({ ev, t: Date.now(), ...fields }) + "\n");
}

function errString(e) {
  if (!e) return "";
  if (e.message) return String(e.message);
  return String(e);
}

// The seed's settings, verbatim, plus tryAllTransports (issue 2/3).
const socket = io(opts.url, {
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  transports: opts.transports || ["websocket", "polling"],
  tryAllTransports: true,
  auth: opts.auth || { role: "device", token },
});

socket.on("connect", () => {
  const engine = socket.io.engine;
  out("connect", { id: socket.id, recovered: socket.recovered, transport: engine && engine.transport ? engine.transport.name : "" });
  const join = () => {
    if (opts.noJoin) return;
    socket.timeout(ackTimeout).emit("room:join", { roomId }, (err, ack) => {
      if (err) return out("join_error", { error: errString(err) });
      out("joined", { ack });
    });
  };
  if (opts.noVerify) return join();
  socket.timeout(ackTimeout).emit("session:verify", { token }, (err, ack) => {
    if (err) return out("verify_error", { error: errString(err) });
    out("verified", { ack });
    if (ack && ack.ok === false) return; // session_expired: stop, login needed
    join();
  });
});

socket.on("disconnect", (reason, description) => {
  const f = { reason };
  if (description) f.description = errString(description.description || description);
  out("disconnect", f);
});
socket.on("connect_error", (err) => out("connect_error", { error: errString(err), active: socket.active }));
socket.onAny((event, ...args) => {
  if (args.length && typeof args[args.length - 1] === "function") args = args.slice(0, -1);
  out("event", { event, args: enc(args) });
});

const mgr = socket.io;
mgr.on("reconnect_attempt", (n) => out("reconnect_attempt", { n }));
mgr.on("reconnect", (n) => out("reconnect", { n }));
mgr.on("reconnect_error", (err) => out("reconnect_error", { error: errString(err) }));
mgr.on("reconnect_failed", () => out("reconnect_failed", {}));
mgr.on("open", () => {
  const engine = mgr.engine;
  out("open", { transport: engine.transport ? engine.transport.name : "" });
  engine.on("upgrade", (t) => out("upgrade", { transport: t.name }));
});

// The server's "question" (from "ask") is answered with an ack that carries
// {answer: <the question's args>} so the Go test can check the round trip.
socket.on("question", (...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  if (ack) ack({ answer: args });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    return out("cmd_error", { error: "bad json: " + e.message });
  }
  if (c.cmd === "emit") {
    const args = dec(c.args || []);
    if (c.ackId === undefined || c.ackId === null) {
      socket.emit(c.event, ...args);
      return;
    }
    socket.timeout(c.timeoutMs || ackTimeout).emit(c.event, ...args, (err, ...reply) => {
      if (err) return out("ack", { ackId: c.ackId, error: errString(err) });
      out("ack", { ackId: c.ackId, args: enc(reply) });
    });
  } else if (c.cmd === "disconnect") {
    socket.disconnect();
  } else if (c.cmd === "connect") {
    socket.connect();
  } else if (c.cmd === "state") {
    const engine = socket.io.engine;
    out("state", {
      connected: socket.connected,
      active: socket.active,
      id: socket.id || "",
      transport: socket.connected && engine && engine.transport ? engine.transport.name : "",
    });
  } else {
    out("cmd_error", { error: "unknown cmd " + c.cmd });
  }
});
rl.on("close", () => process.exit(0));
