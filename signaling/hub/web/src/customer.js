// The customer page: join a counter from an invite link (/c/{code}), show
// its camera, send ours, and say in a banner what state the call is in.
//
// Signalling is the room protocol v1 (../shared/docs/protocol.md) over the
// official socket.io-client; WebRTC follows the W3C webrtc-pc "Perfect
// Negotiation Example" (§10.7) as the POLITE peer: the appliance is
// impolite and sends the offer when we join, we roll back on glare.
import { io } from 'socket.io-client';

// The seed's client settings (persistent-connection-architecture-v2),
// exactly. A page may override transports with ?transports=polling (tests,
// networks that mangle WebSocket).
export const socketOptions = Object.freeze({
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  transports: ['websocket', 'polling'],
  tryAllTransports: true,
});

const POLITE = true;
// The appliance's heartbeat channel (appliance/peer/heartbeat.go): both
// sides create it negotiated with this id; we echo pings as pongs.
const HEARTBEAT = { negotiated: true, id: 1000, ordered: false, maxRetransmits: 0 };
const JOIN_TIMEOUT_MS = 10000;

// Every state a customer can be in, with its banner (kind, text).
const STATES = {
  loading: ['info', () => 'Loading…'],
  'invite-invalid': ['err', () => 'Invite invalid: this link is not valid or has expired. Ask the counter for a new one.'],
  name: ['info', () => 'Enter your name to join the counter.'],
  permission: ['info', () => 'Allow the camera and microphone so the counter can see and hear you.'],
  connecting: ['info', () => 'Connecting…'],
  reconnecting: ['warn', (n) => `Connection lost: reconnecting (attempt ${n})…`],
  queued: ['info', (n) => `Waiting in queue (position ${n})`],
  'counter-offline': ['warn', () => 'Counter offline: you will be connected as soon as it is back.'],
  calling: ['info', () => 'Connecting to the counter…'],
  connected: ['ok', () => 'Counter connected'],
  'call-ended': ['info', () => 'Call ended'],
  'call-failed': ['err', () => 'Call failed: reconnecting the video…'],
};

const $ = (id) => document.getElementById(id);

export function startCustomer() {
  const params = new URLSearchParams(location.search);
  const match = location.pathname.match(/^\/c\/([^/]+)\/?$/);
  const code = match ? decodeURIComponent(match[1]) : '';

  // The model; the banner is derived from it by render().
  const m = {
    inviteInvalid: false,
    hubDown: false, // the invite check cannot reach the hub yet
    started: false, // the customer pressed Join
    askingMedia: false,
    socketUp: false,
    attempt: 0, // reconnect attempt of socket.io's manager
    want: false, // we want to be in the room (false after the call ended)
    ended: false,
    position: null, // 0 in the call, 1.. waiting, null: join pending
    deviceOnline: null,
    media: 'none', // none | connecting | connected | interrupted | failed
  };
  // Exposed for people debugging and for the browser tests.
  const T = {
    state: 'loading', detail: '', position: null, attempt: 0,
    userId: '', roomId: '', deviceId: '', name: '',
    permission: 'unknown', transport: '', recovered: false,
    pcState: 'none', history: [], toasts: [], calls: 0, beats: 0,
    stats, endCall, rejoin,
    // restartIce is what the page does on 'failed', by hand (debugging).
    restartIce: () => { if (pc) pc.restartIce(); },
  };
  window.tether = T;

  let socket = null;
  let iceServers = [];
  let localStream = null;
  let pc = null;
  let makingOffer = false, ignoreOffer = false, isSettingRemoteAnswerPending = false;
  let signals = Promise.resolve(); // incoming signals, one at a time

  $('customer').hidden = false;

  // ---- banner and toasts ----

  function derive() {
    if (m.inviteInvalid) return ['invite-invalid'];
    if (m.hubDown) return ['connecting'];
    if (!m.started) return [code ? 'name' : 'invite-invalid'];
    if (m.askingMedia) return ['permission'];
    if (!m.socketUp) return m.attempt > 0 ? ['reconnecting', m.attempt] : ['connecting'];
    if (m.ended) return ['call-ended'];
    if (m.position === null) return ['connecting'];
    if (m.position > 0) return ['queued', m.position];
    if (m.media === 'connected') return ['connected'];
    if (m.deviceOnline === false) return ['counter-offline'];
    if (m.media === 'failed') return ['call-failed'];
    return ['calling'];
  }

  function render() {
    const [state, n] = derive();
    const [kind, text] = STATES[state];
    const msg = text(n);
    const b = $('banner');
    if (T.state !== state || T.detail !== msg) {
      T.state = state;
      T.detail = msg;
      T.history.push(state + (n !== undefined ? ':' + n : ''));
      if (T.history.length > 200) T.history.shift();
      b.className = 'banner ' + kind;
      b.dataset.state = state;
      b.textContent = msg;
    }
    T.position = m.position;
    T.attempt = m.attempt;
    T.pcState = pc ? pc.connectionState : 'none';
    const inRoom = m.started && !m.inviteInvalid;
    $('join').hidden = m.started || m.inviteInvalid || !code;
    $('controls').hidden = !inRoom;
    $('stage').hidden = !inRoom;
    $('end').hidden = !inRoom || m.ended || !m.want;
    $('end').textContent = m.position > 0 ? 'Leave queue' : 'End call';
    $('again').hidden = !inRoom || !m.ended;
    $('mic').hidden = $('cam').hidden = !localStream;
  }

  function toast(kind, text, ms = 5000) {
    T.toasts.push(text);
    if (T.toasts.length > 100) T.toasts.shift();
    const el = document.createElement('div');
    el.className = 'toast ' + kind;
    el.textContent = text;
    $('toasts').append(el);
    setTimeout(() => el.remove(), ms);
  }

  // ---- invite and name ----

  async function checkInvite() {
    if (!code) {
      render();
      return;
    }
    for (let delay = 1000; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const r = await fetch('/api/invites/' + encodeURIComponent(code), { cache: 'no-store' });
        if (r.status === 404) {
          m.inviteInvalid = true;
          render();
          return;
        }
        if (r.ok) {
          m.hubDown = false;
          const inv = await r.json();
          T.roomId = inv.roomId;
          $('who').textContent = 'Counter ' + inv.roomId;
          break;
        }
      } catch (e) {
        // The hub is unreachable: try again like the socket would.
      }
      m.hubDown = true;
      render();
      await new Promise((res) => setTimeout(res, delay));
    }
    const remembered = safeGet('tether.name');
    $('name').value = params.get('name') || remembered || '';
    render();
    if (params.get('name')) start(params.get('name'));
  }

  $('join').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    if (name) start(name);
  });

  async function start(name) {
    if (m.started) return;
    T.name = name.slice(0, 64);
    safeSet('tether.name', T.name);
    m.started = true;
    m.want = true;
    await getMedia();
    connect();
  }

  // ---- camera and microphone ----

  async function getMedia() {
    if (params.get('media') === 'off') {
      T.permission = 'off';
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      T.permission = 'unavailable';
      toast('warn', 'This browser cannot use the camera here: you can still see and hear the counter.');
      return;
    }
    m.askingMedia = true;
    render();
    try {
      localStream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
        video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
      });
      T.permission = 'granted';
      const v = $('local');
      v.srcObject = localStream;
      v.hidden = false;
      v.play().catch(() => {});
    } catch (e) {
      localStream = null;
      if (e && (e.name === 'NotAllowedError' || e.name === 'SecurityError')) {
        T.permission = 'denied';
        toast('err', 'Permission denied for camera and microphone: you can still see and hear the counter.', 8000);
      } else {
        T.permission = 'unavailable';
        toast('warn', 'No camera or microphone found (' + (e && e.name) + '): you can still see and hear the counter.', 8000);
      }
    }
    m.askingMedia = false;
    render();
  }

  $('mic').addEventListener('click', () => toggle('audio', $('mic'), 'Mute mic', 'Unmute mic'));
  $('cam').addEventListener('click', () => toggle('video', $('cam'), 'Camera off', 'Camera on'));

  function toggle(kind, btn, onText, offText) {
    if (!localStream) return;
    const tracks = kind === 'audio' ? localStream.getAudioTracks() : localStream.getVideoTracks();
    const enabled = !(tracks[0] && tracks[0].enabled);
    tracks.forEach((t) => { t.enabled = enabled; });
    btn.setAttribute('aria-pressed', String(!enabled));
    btn.textContent = enabled ? onText : offText;
  }

  // ---- signalling ----

  function connect() {
    const opts = { ...socketOptions, auth: { role: 'customer', invite: code, name: T.name } };
    const tq = (params.get('transports') || '').split(',').filter((t) => t === 'websocket' || t === 'polling');
    if (tq.length) opts.transports = tq;
    socket = io(opts);

    socket.on('connect', () => {
      m.socketUp = true;
      m.attempt = 0;
      T.recovered = socket.recovered;
      const engine = socket.io.engine;
      T.transport = engine.transport.name;
      engine.once('upgrade', (t) => { T.transport = t.name; });
      if (!socket.recovered) {
        // A new socket session (first connect, or the hub forgot us, e.g.
        // it restarted): a new userId, so a new call. The appliance sees a
        // new customer and offers again.
        T.userId = '';
        closePC();
        m.position = null;
        if (m.want) join();
      }
      render();
    });
    socket.on('disconnect', (reason) => {
      m.socketUp = false;
      if (reason !== 'io client disconnect') toast('warn', 'Connection to the hub lost (' + reason + ')');
      render();
    });
    socket.io.on('reconnect_attempt', (n) => {
      m.attempt = n;
      render();
    });
    socket.on('connect_error', (err) => {
      const msg = (err && err.message) || 'error';
      if (msg === 'invite_invalid') {
        m.inviteInvalid = true;
        socket.disconnect();
        closePC();
        render();
        return;
      }
      if (!socket.active) {
        // The server refused the CONNECT (socket.io-client does not retry
        // those by itself): try again after the manager's longest delay.
        m.attempt++;
        setTimeout(() => { if (!socket.connected && !m.inviteInvalid) socket.connect(); }, socketOptions.reconnectionDelayMax);
      }
      render();
    });

    socket.on('queue:position', (ev) => {
      if (!ev || typeof ev.position !== 'number' || m.ended) return;
      const was = m.position;
      m.position = ev.position;
      if (ev.position === 0 && was !== 0 && was !== null) {
        // Promoted from the queue: a fresh call.
        closePC();
        toast('ok', 'It is your turn');
      }
      render();
    });
    // Fresh TURN credentials (the hub's event, docs/protocol.md): on
    // promotion, then before the last ones expire. A waiting customer has
    // none; a connection already made keeps its relay, new gathering (an
    // ICE restart) uses these.
    socket.on('room:ice', (ev) => {
      if (!ev || !Array.isArray(ev.iceServers)) return;
      iceServers = ev.iceServers;
      if (pc) {
        try {
          pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
        } catch (e) {
          console.warn('setConfiguration', e);
        }
      }
    });
    socket.on('room:user:joined', (ev) => {
      if (ev && ev.role === 'device') {
        T.deviceId = ev.userId;
        m.deviceOnline = true;
        render();
      }
    });
    socket.on('room:user:left', (ev) => {
      if (ev && ev.userId && ev.userId === T.deviceId) {
        m.deviceOnline = false;
        closePC();
        toast('warn', 'The counter left (' + ev.reason + ')');
        render();
      }
    });
    // The hub's counter online/offline indication (docs/protocol.md).
    socket.on('room:device:status', (ev) => {
      if (!ev || typeof ev.online !== 'boolean') return;
      if (m.deviceOnline !== ev.online) toast(ev.online ? 'ok' : 'warn', ev.online ? 'The counter is back online' : 'The counter went offline');
      m.deviceOnline = ev.online;
      render();
    });
    socket.on('call:ended', (ev) => {
      if (!ev || (ev.userId && ev.userId !== T.userId)) return;
      callOver('Call ended' + (ev.reason && ev.reason !== 'ended' ? ' (' + ev.reason + ')' : ''));
    });
    socket.on('signal', (msg) => {
      signals = signals.then(() => onSignal(msg)).catch((e) => {
        console.warn('signal', e);
      });
    });
  }

  function join() {
    if (!socket || !socket.connected) return;
    m.position = null;
    socket.timeout(JOIN_TIMEOUT_MS).emit('room:join', { roomId: T.roomId }, (err, rep) => {
      if (err) {
        // No answer in time: ask again on this socket (or the next one).
        setTimeout(() => { if (m.want && m.position === null) join(); }, 1000);
        return;
      }
      if (!rep || !rep.ok) {
        const e = (rep && rep.error) || 'error';
        if (e === 'forbidden' || e === 'invite_invalid') {
          m.inviteInvalid = true;
        } else {
          // e.g. room_full (the hub bounds each counter's queue).
          toast('err', e === 'room_full' ? 'The queue for this counter is full: trying again shortly' : 'Could not join the counter (' + e + '): trying again');
          setTimeout(() => { if (m.want && m.position === null) join(); }, socketOptions.reconnectionDelayMax);
        }
        render();
        return;
      }
      T.userId = rep.userId || '';
      // Only the customer in the call gets TURN credentials (position 0);
      // a waiting one gets them with room:ice when its turn comes.
      if (Array.isArray(rep.iceServers)) iceServers = rep.iceServers;
      for (const mem of rep.members || []) {
        if (mem.role === 'device') T.deviceId = mem.userId;
      }
      if (typeof rep.deviceOnline === 'boolean') m.deviceOnline = rep.deviceOnline;
      if (m.position === null) m.position = typeof rep.position === 'number' ? rep.position : 0;
      T.calls++;
      render();
    });
  }

  function send(msg) {
    // Signals are never buffered across a reconnect: stale SDP would only
    // confuse the other side, which renegotiates from its current state.
    if (!socket || !socket.connected || !T.deviceId) return;
    socket.emit('signal', { to: T.deviceId, ...msg });
  }

  function endCall() {
    if (!m.started || m.ended) return;
    if (socket && socket.connected) {
      socket.timeout(JOIN_TIMEOUT_MS).emit('call:ended', { roomId: T.roomId, userId: T.userId, reason: 'customer' }, () => {});
    }
    callOver('Call ended');
  }

  function callOver(text) {
    if (m.ended) return;
    m.ended = true;
    m.want = false;
    closePC();
    toast('info', text);
    render();
  }

  function rejoin() {
    if (!m.ended) return;
    m.ended = false;
    m.want = true;
    m.media = 'none';
    join();
    render();
  }

  $('end').addEventListener('click', endCall);
  $('again').addEventListener('click', rejoin);

  // ---- WebRTC: Perfect Negotiation, polite side ----

  function ensurePC() {
    if (pc) return pc;
    const p = new RTCPeerConnection({ iceServers });
    pc = p;
    makingOffer = ignoreOffer = isSettingRemoteAnswerPending = false;
    p.tracksAdded = false;
    p.everConnected = false;
    m.media = 'connecting';
    const remote = new MediaStream();
    const hb = p.createDataChannel('heartbeat', HEARTBEAT);
    hb.binaryType = 'arraybuffer';
    hb.onmessage = (e) => {
      // Beats are JSON text ({"type":"ping","seq","t"}); a binary beat is
      // answered in binary.
      const binary = typeof e.data !== 'string';
      try {
        const beat = JSON.parse(binary ? new TextDecoder().decode(e.data) : e.data);
        if (beat && beat.type === 'ping') {
          beat.type = 'pong';
          const out = JSON.stringify(beat);
          hb.send(binary ? new TextEncoder().encode(out) : out);
          T.beats++;
        }
      } catch (_) { /* not a beat */ }
    };
    p.ontrack = ({ track }) => {
      if (p !== pc) return;
      remote.addTrack(track);
      const v = $('remote');
      if (v.srcObject !== remote) v.srcObject = remote;
      playRemote();
    };
    p.onicecandidate = ({ candidate }) => {
      if (p !== pc) return;
      // null (or an empty candidate in older browsers) is the end of
      // candidates, sent as "candidate": null (the contract).
      if (!candidate || !candidate.candidate) {
        send({ candidate: null });
        return;
      }
      send({ candidate: { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } });
    };
    p.onnegotiationneeded = async () => {
      // The appliance offers first when we join; before its offer arrived
      // we have nothing to say (the heartbeat channel alone sets the flag).
      if (p !== pc || !p.remoteDescription) return;
      try {
        makingOffer = true;
        await p.setLocalDescription();
        send({ description: { type: p.localDescription.type, sdp: p.localDescription.sdp } });
      } catch (e) {
        console.warn('offer', e);
      } finally {
        makingOffer = false;
      }
    };
    p.onconnectionstatechange = () => {
      if (p !== pc) return;
      const s = p.connectionState;
      if (s === 'connected') {
        if (m.media !== 'connected') toast('ok', 'Counter connected');
        m.media = 'connected';
        p.everConnected = true;
      } else if (s === 'failed') {
        // RFC 8445 §9 ICE restart from our side too: the appliance restarts
        // as well, Perfect Negotiation sorts out who offers.
        m.media = 'failed';
        toast('err', 'Call failed: restarting the connection');
        p.restartIce();
      } else if (s === 'disconnected' || s === 'closed') {
        // The path is down (the counter went away, or the network): the
        // banner says what the socket and the room know.
        m.media = 'interrupted';
      } else if (m.media !== 'failed') {
        m.media = 'connecting';
      }
      render();
    };
    render();
    return p;
  }

  function closePC() {
    if (!pc) return;
    const p = pc;
    pc = null;
    m.media = 'none';
    try { p.close(); } catch (_) { /* already closed */ }
    const v = $('remote');
    v.srcObject = null;
    $('unmute').hidden = true;
  }

  function addLocalTracks(p) {
    if (!localStream || p.tracksAdded || p !== pc) return;
    p.tracksAdded = true;
    // Called between applying the appliance's offer and answering it: the
    // tracks take the offer's recvonly m-lines and ride the answer.
    for (const t of localStream.getTracks()) p.addTrack(t, localStream);
  }

  async function onSignal(msg) {
    if (!msg || typeof msg !== 'object') return;
    // Only the customer in the call gets signals; anything after the call
    // ended is stale.
    if (m.ended || m.position !== 0) return;
    if (msg.from) T.deviceId = msg.from;
    const description = msg.description;
    if (description) {
      let p = ensurePC();
      const readyForOffer = !makingOffer && (p.signalingState === 'stable' || isSettingRemoteAnswerPending);
      const offerCollision = description.type === 'offer' && !readyForOffer;
      ignoreOffer = !POLITE && offerCollision;
      if (ignoreOffer) return;
      isSettingRemoteAnswerPending = description.type === 'answer';
      try {
        // On glare this rolls our own offer back (implicit rollback).
        await p.setRemoteDescription(description);
      } catch (e) {
        isSettingRemoteAnswerPending = false;
        if (description.type !== 'offer') throw e;
        // An offer this connection cannot take (the appliance started a
        // new PeerConnection: new DTLS certificate): start over with it.
        console.warn('offer refused, new connection', e);
        closePC();
        p = ensurePC();
        await p.setRemoteDescription(description);
      }
      isSettingRemoteAnswerPending = false;
      if (description.type === 'offer') {
        // Our camera and mic before the answer: addTrack takes the
        // appliance's recvonly m-lines, so they ride this answer and no
        // second offer is needed (issue 15).
        addLocalTracks(p);
        await p.setLocalDescription();
        send({ description: { type: p.localDescription.type, sdp: p.localDescription.sdp } });
      }
    } else if ('candidate' in msg) {
      if (!pc) return;
      try {
        await pc.addIceCandidate(msg.candidate || undefined);
      } catch (e) {
        if (!ignoreOffer) console.warn('candidate', e);
      }
    }
  }

  // Autoplay: the remote video starts muted (always allowed); we unmute
  // when the browser lets us and otherwise offer a button.
  function playRemote() {
    const v = $('remote');
    v.muted = false;
    v.play().then(() => { $('unmute').hidden = true; }).catch(() => {
      v.muted = true;
      v.play().catch(() => {});
      $('unmute').hidden = false;
    });
  }
  $('unmute').addEventListener('click', () => {
    const v = $('remote');
    v.muted = false;
    v.play().catch(() => {});
    $('unmute').hidden = true;
  });

  // stats reads the remote video from getStats: what the tests and the
  // curious look at.
  async function stats() {
    const out = {
      pcState: pc ? pc.connectionState : 'none', iceState: pc ? pc.iceConnectionState : 'none',
      framesDecoded: 0, framesReceived: 0, framesDropped: 0, bytesReceived: 0, packetsLost: 0,
      frameWidth: 0, frameHeight: 0, audioBytesReceived: 0, rttMs: null, bytesSent: 0,
      signalingState: pc ? pc.signalingState : 'none', iceUfrag: '',
    };
    if (!pc) return out;
    const uf = pc.localDescription && pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/);
    if (uf) out.iceUfrag = uf[1];
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.framesDecoded += s.framesDecoded || 0;
        out.framesReceived += s.framesReceived || 0;
        out.framesDropped += s.framesDropped || 0;
        out.bytesReceived += s.bytesReceived || 0;
        out.packetsLost += s.packetsLost || 0;
        out.frameWidth = s.frameWidth || out.frameWidth;
        out.frameHeight = s.frameHeight || out.frameHeight;
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioBytesReceived += s.bytesReceived || 0;
      } else if (s.type === 'outbound-rtp') {
        out.bytesSent += s.bytesSent || 0;
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && s.currentRoundTripTime !== undefined) {
        out.rttMs = Math.round(s.currentRoundTripTime * 1000);
      }
    });
    return out;
  }

  checkInvite();
}

function safeGet(k) {
  try { return localStorage.getItem(k); } catch (_) { return null; }
}
function safeSet(k, v) {
  try { localStorage.setItem(k, v); } catch (_) { /* private mode */ }
}
