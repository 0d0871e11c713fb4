// Tether setup page. Plain JS, no build step. Every text from the appliance
// is set with textContent (never innerHTML), and every POST carries the CSRF
// token the server handed out with /api/state.
'use strict';

const $ = (id) => document.getElementById(id);
let csrf = '';
let last = null;          // last status view, for change toasts
let stream = null;        // EventSource
let state = null;         // last /api/state answer
let uptimeBase = null;    // [uptimeS, Date.now()] of the last status
let previewTimer = null;

// ---- toasts ----
function toast(msg, kind) {
  const t = document.createElement('div');
  t.className = 'toast' + (kind ? ' ' + kind : '');
  t.textContent = msg;
  $('toasts').appendChild(t);
  while ($('toasts').children.length > 4) $('toasts').firstChild.remove();
  setTimeout(() => t.remove(), 4500);
}

// ---- API ----
async function getJSON(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  let body = {};
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  return { status: r.status, body };
}

async function post(path, data) {
  let r;
  try {
    r = await fetch(path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(data || {}),
    });
  } catch (e) {
    return { status: 0, body: { ok: false, error: 'the appliance did not answer' } };
  }
  let body = {};
  try { body = await r.json(); } catch (e) { body = { ok: r.ok, error: 'HTTP ' + r.status }; }
  if (r.status === 401 && body.code === 'auth') {
    toast('Your setup-page session ended. Log in again.', 'warn');
    showLogin('Your setup-page session ended. Log in again.');
  } else if (r.status === 403 && body.code === 'csrf') {
    toast('The page was out of date; reloaded its token. Try again.', 'warn');
    await refreshToken();
  }
  return { status: r.status, body };
}

async function refreshToken() {
  const r = await getJSON('/api/state');
  if (r.body && r.body.csrf) csrf = r.body.csrf;
}

// ---- views ----
function show(view) {
  for (const v of ['loading', 'choose', 'login', 'main']) $('view-' + v).hidden = v !== view;
}

function showLogin(note) {
  stopStream();
  $('login-note').hidden = !note;
  $('login-note').textContent = note || '';
  $('state-pill').hidden = true;
  show('login');
}

async function boot() {
  const r = await getJSON('/api/state');
  if (!r.body || !r.body.ok) {
    show('loading');
    $('view-loading').querySelector('p').textContent = (r.body && r.body.error) || 'The appliance did not answer. Retrying…';
    setTimeout(boot, 3000);
    return;
  }
  state = r.body;
  csrf = state.csrf;
  if (state.fingerprint) { $('cert-fp').textContent = state.fingerprint; $('cert').hidden = false; }
  if (!state.passwordSet) { stopStream(); show('choose'); return; }
  if (!state.loggedIn) { showLogin(''); return; }
  enterMain();
}

// ---- forms ----
function clearErrors(form) {
  form.querySelector('.err').textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

function showError(form, body) {
  form.querySelector('.err').textContent = body.error || 'failed';
  if (body.field) {
    const el = form.querySelector('[name="' + CSS.escape(body.field) + '"]');
    if (el) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
  }
}

function formData(form) {
  const d = {};
  for (const el of form.elements) if (el.name) d[el.name] = el.value;
  return d;
}

function onSubmit(id, fn) {
  const form = $(id);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try { await fn(form); } finally { btn.disabled = false; }
  });
}

onSubmit('form-choose', async (form) => {
  const r = await post('/api/password', formData(form));
  if (r.body.ok) {
    form.reset();
    csrf = r.body.csrf;
    toast('Setup password set. You are logged in.', 'ok');
    await boot();
  } else if (r.body.code === 'password-set') {
    toast(r.body.error, 'warn');
    await boot();
  } else showError(form, r.body);
});

onSubmit('form-login', async (form) => {
  const r = await post('/api/login', formData(form));
  if (r.body.ok) {
    form.reset();
    csrf = r.body.csrf;
    toast('Logged in.', 'ok');
    await boot();
  } else if (r.body.code === 'no-password') {
    await boot();
  } else showError(form, r.body);
});

onSubmit('form-hub', async (form) => {
  const r = await post('/api/hub-login', formData(form));
  form.elements.password.value = '';
  if (r.body.ok) {
    const s = r.body.session || {};
    // The hub URL is saved with the login: keep the settings form in step.
    if (s.hubUrl) $('form-settings').elements.hubUrl.value = s.hubUrl;
    toast('Logged in to the hub' + (s.roomId ? ' (room ' + s.roomId + ')' : '') + '.', 'ok');
  } else if (r.status !== 401 || r.body.code !== 'auth') {
    showError(form, r.body);
    toast('Hub login failed.', 'bad');
  }
});

onSubmit('form-settings', async (form) => {
  const r = await post('/api/settings', formData(form));
  if (r.body.ok) {
    fillSettings(r.body.settings);
    toast('Settings saved.', 'ok');
  } else if (r.status !== 401) {
    showError(form, r.body);
    toast('Settings not saved: ' + (r.body.error || 'error'), 'bad');
  }
});

$('btn-led').addEventListener('click', async () => {
  const r = await post('/api/led-test');
  if (r.body.ok) toast('LED test running for 4 s.', 'ok'); else toast(r.body.error || 'LED test failed', 'bad');
});

let restartArmed = null;
$('btn-restart').addEventListener('click', async (ev) => {
  const b = ev.currentTarget;
  if (!restartArmed) {
    // Two taps instead of a confirm() dialog: works the same on phones.
    b.textContent = 'Tap again to restart';
    b.classList.add('armed');
    restartArmed = setTimeout(() => { b.textContent = 'Restart'; b.classList.remove('armed'); restartArmed = null; }, 4000);
    return;
  }
  clearTimeout(restartArmed); restartArmed = null;
  b.textContent = 'Restart'; b.classList.remove('armed');
  const r = await post('/api/restart');
  if (r.body.ok) toast('Restarting. The page reconnects by itself.', 'warn'); else toast(r.body.error || 'restart failed', 'bad');
});

$('btn-logout').addEventListener('click', async () => {
  await post('/api/logout');
  toast('Logged out.');
  await boot();
});

// ---- main view ----
function deviceField(container, list, value) {
  const name = container.dataset.name;
  container.textContent = '';
  let el;
  if (list && list.length) {
    el = document.createElement('select');
    const def = document.createElement('option');
    def.value = ''; def.textContent = '(board default)';
    el.appendChild(def);
    for (const d of list) {
      const o = document.createElement('option');
      o.value = d; o.textContent = d;
      el.appendChild(o);
    }
  } else {
    el = document.createElement('input');
    el.type = 'text';
    el.autocapitalize = 'none';
    el.placeholder = name === 'camera' ? '/dev/video0' : 'default';
  }
  el.name = name;
  el.value = value || '';
  container.appendChild(el);
}

function fillSettings(s) {
  if (!s) return;
  const f = $('form-settings').elements;
  f.hubUrl.value = s.hubUrl || '';
  f.room.value = s.room || '';
  f.resolution.value = s.resolution || '';
  f.fps.value = s.fps || '';
  f.bitrate.value = s.bitrate || '';
  f.speaker.value = s.speaker || '';
  f.volume.value = s.volume || '';
  f.display.value = s.display || '';
  if (f.camera) f.camera.value = s.camera || '';
  if (f.microphone) f.microphone.value = s.microphone || '';
  const hub = $('form-hub').elements.hubUrl;
  if (!hub.value) hub.value = s.hubUrl || '';
}

function enterMain() {
  show('main');
  const dev = state.devices || {};
  const s = state.settings || {};
  for (const c of document.querySelectorAll('.dev')) {
    deviceField(c, c.dataset.name === 'camera' ? dev.cameras : dev.microphones, s[c.dataset.name]);
  }
  fillSettings(s);
  const f = state.features || {};
  $('btn-led').hidden = !f.ledTest;
  $('btn-restart').hidden = !f.restart;
  startPreview(f.preview);
  startStream();
}

function startPreview(available) {
  clearInterval(previewTimer);
  const img = $('preview-img'), none = $('preview-none');
  if (!available) { img.hidden = true; none.hidden = false; return; }
  const load = () => { if (!document.hidden && !$('view-main').hidden) img.src = '/api/preview.jpg?t=' + Date.now(); };
  img.onload = () => { img.hidden = false; none.hidden = true; };
  img.onerror = () => { img.hidden = true; none.hidden = false; };
  load();
  previewTimer = setInterval(load, 2000);
}

function stopStream() {
  if (stream) { stream.close(); stream = null; }
  clearInterval(previewTimer);
}

function startStream() {
  stopStream();
  const es = new EventSource('/api/stream');
  stream = es;
  es.addEventListener('open', () => {
    if (!$('banner-offline').hidden) toast('Live status is back.', 'ok');
    $('banner-offline').hidden = true;
  });
  es.addEventListener('status', (e) => onStatus(JSON.parse(e.data)));
  es.addEventListener('leds', (e) => renderLEDs(JSON.parse(e.data)));
  es.addEventListener('auth', () => {
    toast('Your setup-page session ended. Log in again.', 'warn');
    boot();
  });
  es.addEventListener('error', () => {
    if (stream !== es) return;
    if ($('banner-offline').hidden) toast('Live status lost. Reconnecting…', 'warn');
    $('banner-offline').hidden = false;
    if (es.readyState === EventSource.CLOSED) {
      // A refused reconnect (401 after a restart): ask what to show.
      stream = null;
      setTimeout(boot, 2000);
    }
  });
}

function fmtMs(v) { return v > 0 ? Math.round(v) + ' ms' : ''; }

function fmtDur(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's';
}

function changeToasts(v) {
  if (!last) return;
  if (v.overall !== last.overall) {
    const kind = { ready: 'ok', 'in-call': 'ok', 'login-needed': 'bad', fault: 'bad', degraded: 'warn', 'hub-unreachable': 'warn' }[v.overall];
    toast('State: ' + v.overall + ' (' + v.reason + ')', kind);
  }
  if (v.socket.state !== last.socket.state) toast('Socket: ' + last.socket.state + ' → ' + v.socket.state);
  if (v.peer.state !== last.peer.state) toast('Peer: ' + last.peer.state + ' → ' + v.peer.state);
  if (v.loginNeeded && !last.loginNeeded) toast('Login needed: log in to the hub.', 'bad');
}

function onStatus(v) {
  changeToasts(v);
  last = v;
  const pill = $('state-pill');
  for (const p of [pill, $('st-overall')]) {
    p.hidden = false;
    p.className = 'pill ' + v.overall;
    p.textContent = v.overall;
  }
  $('st-reason').textContent = v.reason;
  const so = v.socket, pe = v.peer;
  $('st-socket').textContent = [so.state, so.transport, so.attempt && so.state !== 'connected' ? 'attempt ' + so.attempt : '', fmtMs(so.rttMs)].filter(Boolean).join(' · ');
  $('st-peer').textContent = [pe.state, pe.path !== 'unknown' ? pe.path : '', fmtMs(pe.rttMs), pe.lossPct > 0 ? pe.lossPct.toFixed(1) + '% loss' : '', pe.missedHeartbeats ? pe.missedHeartbeats + ' heartbeats missed' : ''].filter(Boolean).join(' · ');
  $('st-media').textContent = v.media.devices.map(d => d.name + ' ' + d.state).concat(['encoder ' + v.media.encoder]).join(' · ');
  $('st-network').textContent = v.network.state + (v.network.detail ? ' · ' + v.network.detail : '');
  const s = v.session;
  $('st-session').textContent = s ? ((s.expired ? 'expired' : 'valid') + (s.roomId ? ' · room ' + s.roomId : '') + (s.deviceId ? ' · device ' + s.deviceId : '')) : 'none';
  $('st-error').textContent = so.lastError || pe.lastError || v.media.lastError || '–';
  uptimeBase = [v.uptimeS, Date.now()];
  tickUptime();
  $('banner-login').hidden = !v.loginNeeded;
  $('card-hub').classList.toggle('attention', v.loginNeeded);
  if (v.leds && v.leds.length) renderLEDs(v.leds);
  renderChart(v.rtt || []);
  renderEvents(v.events || []);
}

function tickUptime() {
  if (!uptimeBase) return;
  $('st-uptime').textContent = fmtDur(uptimeBase[0] + (Date.now() - uptimeBase[1]) / 1000);
}
setInterval(tickUptime, 1000);

function renderLEDs(leds) {
  const box = $('leds');
  if (!leds || !leds.length) { box.hidden = true; return; }
  box.hidden = false;
  box.textContent = '';
  for (const l of leds) {
    const s = document.createElement('span');
    s.className = 'led ' + l.color + (l.on ? ' on' : '');
    s.dataset.led = l.name;
    s.appendChild(document.createElement('i'));
    s.appendChild(document.createTextNode(l.name));
    box.appendChild(s);
  }
}

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// renderChart draws both RTT series over the kept points (x: time).
function renderChart(pts) {
  const svg = $('rtt-chart');
  svg.textContent = '';
  const W = 320, H = 130, L = 34, R = 6, T = 8, B = 18;
  let top = 100;
  for (const p of pts) top = Math.max(top, p.socket, p.peer);
  top = Math.ceil(top * 1.15 / 100) * 100; // round grid labels: 0, 25, 50, 75, 100 ms...
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * i / 4;
    svg.appendChild(svgEl('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.appendChild(svgEl('text', { x: L - 4, y: y + 3, 'text-anchor': 'end', class: 'lbl' }, String(Math.round(top * (1 - i / 4)))));
  }
  svg.appendChild(svgEl('text', { x: 2, y: H - 4, class: 'lbl' }, 'ms'));
  if (pts.length === 0) {
    svg.appendChild(svgEl('text', { x: (L + W) / 2, y: H / 2, 'text-anchor': 'middle', class: 'lbl' }, 'no RTT measured yet'));
    return;
  }
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  for (const key of ['socket', 'peer']) {
    const ps = pts.filter((p) => p[key] > 0).map((p) => x(p.t).toFixed(1) + ',' + y(p[key]).toFixed(1));
    if (ps.length === 1) ps.push((W - R) + ',' + ps[0].split(',')[1]);
    if (ps.length) svg.appendChild(svgEl('polyline', { points: ps.join(' '), class: key }));
  }
  const span = Math.round((t1 - t0) / 1000);
  svg.appendChild(svgEl('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'lbl' }, span > 0 ? 'last ' + fmtDur(span) : ''));
}

function renderEvents(evs) {
  const ol = $('events');
  ol.textContent = '';
  if (!evs.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'no events yet';
    ol.appendChild(li);
    return;
  }
  for (const e of evs) {
    const li = document.createElement('li');
    const t = document.createElement('time');
    t.dateTime = e.time;
    t.textContent = new Date(e.time).toLocaleTimeString();
    const b = document.createElement('b');
    b.textContent = e.component;
    li.appendChild(t);
    li.appendChild(b);
    const change = e.from && e.to ? e.from + ' → ' + e.to : (e.to || e.from || '');
    li.appendChild(document.createTextNode(change + (e.detail ? ' (' + e.detail + ')' : '')));
    ol.appendChild(li);
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state && state.loggedIn && !stream && !$('view-main').hidden) startStream();
});

boot();
