// The fleet dashboard: an operator logs in (POST /api/login) and the page
// polls GET /api/fleet with the bearer token every 2 s, showing each
// counter's socket and peer state, RTT, reconnects and uptime as the
// appliance last reported them in device:status.
const POLL_MS = 2000;
const KEY = 'tether.operatorToken';
const $ = (id) => document.getElementById(id);
// The table's columns; on a phone each row becomes a card with these labels.
const HEADERS = ['Counter', 'Socket', 'Peer', 'RTT', 'Reconnects', 'Uptime', 'Call', 'Last status'];

export function startDashboard() {
  const D = { state: 'login', counters: [], polls: 0, error: '' };
  window.tetherFleet = D;
  let timer = null;
  $('dashboard').hidden = false;
  document.title = 'Tether fleet';

  function token() {
    try { return sessionStorage.getItem(KEY) || ''; } catch (_) { return ''; }
  }
  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
    } catch (_) { /* private mode: the token lives as long as the page */ }
    D.token = t;
  }

  function showLogin(msg) {
    clearTimeout(timer);
    D.state = 'login';
    $('login').hidden = false;
    $('fleet-wrap').hidden = true;
    $('logout').hidden = true;
    $('login-error').textContent = msg || '';
  }

  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      const r = await fetch('/api/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: $('user').value, password: $('pass').value }),
      });
      const body = await r.json().catch(() => ({}));
      if (r.status === 429) {
        showLogin(`Too many attempts: wait ${body.retryAfter || 'a few'} s.`);
        return;
      }
      if (!r.ok) {
        showLogin(body.error === 'invalid_credentials' ? 'Wrong name or password.' : 'Login failed (' + (body.error || r.status) + ').');
        return;
      }
      if (body.role && body.role !== 'operator') {
        showLogin('This is a counter account; the dashboard needs an operator account.');
        return;
      }
      setToken(body.token);
      $('pass').value = '';
      showFleet();
    } catch (err) {
      showLogin('The hub is unreachable.');
    }
  });

  $('logout').addEventListener('click', () => {
    // End the session on the hub too: a copied token is dead at once.
    const t = token();
    if (t) fetch('/api/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + t } }).catch(() => {});
    setToken('');
    showLogin('');
  });

  function showFleet() {
    D.state = 'fleet';
    $('login').hidden = true;
    $('fleet-wrap').hidden = false;
    $('logout').hidden = false;
    poll();
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const r = await fetch('/api/fleet', { headers: { Authorization: 'Bearer ' + token() }, cache: 'no-store' });
      if (r.status === 401 || r.status === 403) {
        setToken('');
        showLogin(r.status === 403 ? 'This account may not see the fleet.' : 'Session expired: log in again.');
        return;
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const body = await r.json();
      D.counters = body.counters || [];
      D.polls++;
      D.error = '';
      draw(D.counters, body.serverTime);
    } catch (err) {
      D.error = String(err.message || err);
      $('fleet-meta').textContent = 'hub unreachable, retrying… (' + D.error + ')';
    }
    if (D.state === 'fleet') timer = setTimeout(poll, POLL_MS);
  }

  function draw(counters, serverTime) {
    const online = counters.filter((c) => c.online).length;
    $('fleet-meta').textContent = `${online}/${counters.length} online · ${new Date(serverTime || Date.now()).toLocaleTimeString()}`;
    const tb = document.querySelector('#fleet tbody');
    const now = Date.parse(serverTime) || Date.now();
    tb.replaceChildren(...counters.map((c) => row(c, now)));
  }

  function row(c, now) {
    let st = {};
    try { st = typeof c.status === 'string' ? JSON.parse(c.status) : (c.status || {}); } catch (_) { st = {}; }
    const sock = st.socket || {};
    const peer = st.peer || {};
    const tr = document.createElement('tr');
    tr.dataset.account = c.account;
    const cells = [
      [c.account, c.roomId + (c.revokedAt ? ' · revoked' : '')],
      [c.online ? 'online' : 'offline', (c.transport || sock.transport || '') + (sock.state && sock.state !== 'connected' ? ' · ' + sock.state : '')],
      [peer.state || '–', peer.path || ''],
      [st.rttMs !== undefined ? st.rttMs + ' ms' : '–', ''],
      [String(sock.reconnects ?? '–'), 'hub connects ' + (c.connects || 0)],
      [st.uptimeS !== undefined ? dur(uptime(st.uptimeS, c, now)) : '–', c.online && c.connectedS ? 'socket ' + dur(c.connectedS) : ''],
      [c.inCall ? 'in call ' + dur(c.callS || 0) : 'idle', c.waiting ? c.waiting + ' waiting' : ''],
      [c.statusAt ? new Date(c.statusAt).toLocaleTimeString() : '–', st.version ? 'v ' + st.version : ''],
    ];
    cells.forEach(([main, sub], i) => {
      const td = document.createElement('td');
      td.dataset.label = HEADERS[i];
      const span = document.createElement('span');
      span.textContent = main;
      td.append(span);
      if (i === 1) td.className = c.online ? 'on' : 'off';
      if (sub) {
        const s = document.createElement('div');
        s.className = 'sub';
        s.textContent = sub;
        td.append(s);
      }
      tr.append(td);
    });
    return tr;
  }

  if (token()) showFleet(); else showLogin('');
}

// uptime is the appliance's uptime as of now: the last device:status plus
// the time since the hub got it, while the counter is online.
function uptime(reported, c, now) {
  const at = Date.parse(c.statusAt);
  if (!c.online || !at || !now) return reported;
  return reported + Math.max(0, (now - at) / 1000);
}

function dur(s) {
  s = Math.floor(Number(s) || 0);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), mi = Math.floor((s % 3600) / 60), se = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${mi}m`;
  if (mi) return `${mi}m ${se}s`;
  return `${se}s`;
}
