/* global document, window, fetch, location, navigator, setInterval, clearInterval, AbortController, TextDecoderStream, URLSearchParams, Node, KeygateCharts */
/*
 * keygate dashboard. Every figure and every action goes through keygate's public API
 * as the browser's caller: its client certificate (its policy decides) or the RKS admin
 * session cookie (writes carry the session's CSRF token). `/ui/session?may=…` says which
 * calls this caller's policy allows, so only buttons that would work are shown.
 * Nothing secret is rendered: no private key ever; a group token once, right after it
 * was made.
 */
'use strict';
(function () {
  const main = document.getElementById('main');
  const live = document.getElementById('live');
  const DAY = 86400000;
  const ALIVE_MS = 15 * 60 * 1000;
  let me = null;
  /** Work of the current page (intervals, streams), stopped when the operator leaves it. */
  let cleanups = [];

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  const enc = encodeURIComponent;
  /** The name as the server's policy sees it in a canonical path. */
  const canon = (name) => name.replace(/%/g, '%25').replace(/\//g, '%2F');
  const say = (text) => { live.textContent = text; };

  function timeEl(iso) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return h('span', {}, iso);
    return h('time', { datetime: d.toISOString(), title: 'UTC: ' + d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') }, d.toLocaleString());
  }
  function ago(iso) {
    if (!iso) return h('span', { class: 'muted' }, 'never');
    const d = new Date(iso);
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    const text = s < 60 ? 'just now' : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86400)} days ago`;
    return h('time', { datetime: d.toISOString(), title: 'UTC: ' + d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') + ' — ' + d.toLocaleString() }, text);
  }

  /** The expiry bucket: colour and words, never colour alone. */
  function bucket(notAfter) {
    const left = new Date(notAfter).getTime() - Date.now();
    const days = Math.floor(left / DAY);
    if (left <= 0) return { key: 'expired', text: 'expired' };
    if (left < 7 * DAY) return { key: 'week', text: `expires in ${days < 1 ? 'less than a day' : days + (days === 1 ? ' day' : ' days')}` };
    if (left < 30 * DAY) return { key: 'month', text: `expires in ${days} days` };
    return { key: 'later', text: `expires in ${days} days` };
  }
  const badge = (b) => h('span', { class: 'badge b-' + b.key }, b.text);

  // ---------------------------------------------------------------- API

  // `code`: the error's catalogue code from the Keygate-Error-Code header (docs/api.md#error-codes),
  // what the page decides on; the message is only shown.
  class ApiError extends Error {
    constructor(status, message, path, code) { super(message); this.status = status; this.path = path; this.code = code; }
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && me && me.csrf_token) headers['X-Keygate-CSRF'] = me.csrf_token;
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : {}; } catch { json = { message: text }; }
    if (!r.ok) {
      const code = r.headers.get('Keygate-Error-Code');
      if (code === 'SESSION_ENDED') { me = null; start(); }
      throw new ApiError(r.status, json.message || `HTTP ${r.status}`, path, code);
    }
    return json;
  }
  const get = (path) => api('GET', path);

  /** Every name of a listing, following `continue_at`. */
  async function listAll(base, field = 'names', limit = 2000) {
    const out = [];
    let after = '';
    for (;;) {
      const r = await get(base + (after ? `?continue_at=${enc(after)}` : ''));
      out.push(...(r[field] || []));
      if (!r.continue_at || out.length >= limit) return out;
      after = r.continue_at;
    }
  }

  /** Which of `paths` this caller's policy allows (the server's own decision). */
  async function may(paths) {
    const unique = [...new Set(paths)];
    const result = {};
    for (let i = 0; i < unique.length; i += 100) {
      const q = unique.slice(i, i + 100).map((p) => 'may=' + enc(p)).join('&');
      Object.assign(result, (await get('/ui/session?' + q)).may);
    }
    return result;
  }

  async function pool(items, n, fn) {
    const out = new Array(items.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) { const i = next++; out[i] = await fn(items[i]).catch((e) => ({ error: e })); }
    }));
    return out;
  }

  // ---------------------------------------------------------------- shared pieces

  function refused(what, path) {
    return h('p', { class: 'notice' }, `Your identity may not ${what} (the API path ${path} is not allowed by its policy).`);
  }
  function errorLine(err) { return h('p', { class: 'error', role: 'alert' }, err.message); }
  function section(title, ...children) { return h('section', { 'aria-label': title }, h('h2', {}, title), ...children); }
  function table(caption, head, rows, empty) {
    if (rows.length === 0) return h('p', { class: 'empty' }, empty);
    return h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
  }
  function field(id, label, input, hint) {
    input.id = id;
    return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('span', { class: 'hint', id: id + '-hint' }, hint) : null);
  }
  function facts(pairs) {
    return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  /**
   * A PEM text area that also takes dropped files. `sort` gets the dropped text and
   * may place its blocks itself (certificates here, the key there); else it fills this area.
   */
  function pemArea(id, label, hint, sort) {
    const area = h('textarea', { class: 'drop', name: id, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': id + '-hint' });
    area.addEventListener('dragover', (e) => { e.preventDefault(); area.classList.add('dragging'); });
    area.addEventListener('dragleave', () => area.classList.remove('dragging'));
    area.addEventListener('drop', async (e) => {
      e.preventDefault();
      area.classList.remove('dragging');
      const files = [...e.dataTransfer.files];
      const text = (await Promise.all(files.map((f) => f.text()))).join('\n');
      if (!sort || !sort(text)) area.value = text;
      say(`${files.length} file(s) dropped`);
    });
    return field(id, label, area, hint);
  }

  /** The PEM blocks of a text: certificates, and the private key (never shown anywhere but its own field). */
  function pemBlocks(text) {
    const blocks = text.match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g) || [];
    return {
      certificates: blocks.filter((b) => b.startsWith('-----BEGIN CERTIFICATE-----')).join('\n'),
      key: blocks.filter((b) => /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(b)).join('\n'),
    };
  }

  /** Runs a write, showing its error inline; re-renders the page on success. */
  function action(button, work, done) {
    return async (e) => {
      if (e) e.preventDefault();
      const slot = button.closest('form, .panel, td, section') || main;
      slot.querySelectorAll(':scope > .error').forEach((n) => n.remove());
      button.disabled = true;
      try {
        const result = await work();
        if (done) await done(result); else await route();
      } catch (err) {
        button.disabled = false;
        slot.append(errorLine(err));
      }
    };
  }

  /** Shows a new group token once: a dialog with a copy button; nothing keeps it afterwards. */
  function showTokenOnce(group, token, why) {
    const input = h('input', { type: 'text', readonly: true, value: token, 'aria-label': `New group token of ${group}`, id: 'token-value' });
    const copy = h('button', { type: 'button', class: 'secondary', onclick: async () => {
      input.select();
      try { await navigator.clipboard.writeText(token); say('Token copied'); } catch { document.execCommand('copy'); say('Token copied'); }
    } }, 'Copy');
    const close = h('button', { type: 'button' }, 'I have stored it — close');
    const dialog = h('dialog', { 'aria-labelledby': 'token-title', id: 'token-dialog' },
      h('h2', { id: 'token-title' }, `New group token of ${group}`),
      h('p', { class: 'warning' }, why),
      h('p', {}, 'This is the only time the token is shown: keygate keeps only its hash.'),
      h('div', { class: 'token-box' }, input, copy),
      h('p', {}, close));
    close.addEventListener('click', () => { input.value = ''; dialog.close(); dialog.remove(); route(); });
    dialog.addEventListener('cancel', () => { input.value = ''; dialog.remove(); route(); });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
    input.select();
  }

  // ---------------------------------------------------------------- sign in

  function renderSignIn() {
    const page = [h('h1', { tabindex: '-1' }, 'Sign in to keygate')];
    page.push(h('p', {}, 'Present a client certificate keygate knows (your browser asks for one when you open this page), or log in as the RKS admin where the server is configured for it. What you may see and do is what your certificate\'s policy (or the admin session\'s) allows on the API.'));
    if (me && me.login_available) {
      const login = h('input', { type: 'text', autocomplete: 'username', required: true });
      const password = h('input', { type: 'password', autocomplete: 'current-password', required: true });
      const submit = h('button', { type: 'submit' }, 'Log in');
      const form = h('form', { class: 'panel', 'aria-label': 'RKS admin login' },
        field('login', 'Admin login', login), field('password', 'Password', password), submit);
      form.addEventListener('submit', action(submit, async () => {
        const r = await api('POST', '/ui/login', { login: login.value, password: password.value });
        password.value = '';
        return r;
      }, async () => { await start(); say('Logged in'); }));
      page.push(form);
    } else {
      page.push(h('p', { class: 'notice' }, 'The admin login is not configured on this server (rks.admin): use a client certificate.'));
    }
    return page;
  }

  function renderWho() {
    const who = document.getElementById('who');
    who.replaceChildren();
    if (!me || me.kind === 'anonymous') return;
    who.append(h('span', {}, me.kind === 'session' ? 'Admin session ' : 'Certificate ', h('code', { title: me.principal }, me.principal.length > 20 ? me.principal.slice(0, 16) + '…' : me.principal)));
    if (me.kind === 'session') {
      const out = h('button', { type: 'button', class: 'secondary' }, 'Log out');
      out.addEventListener('click', action(out, () => api('POST', '/ui/logout'), async () => { me = null; await start(); say('Logged out'); }));
      who.append(out);
    }
  }

  // ---------------------------------------------------------------- data shared by pages

  async function bundles(allowed) {
    if (!allowed) return null;
    const names = await listAll('/v1/cert/list/');
    const described = await pool(names, 6, (n) => get('/v1/cert/describe/' + enc(n)));
    return described.filter((d) => d && !d.error);
  }

  async function groupsWithNodes(withNodes) {
    const names = await listAll('/v1/group/list/');
    if (!withNodes) return names.map((name) => ({ name, nodes: null }));
    return pool(names, 4, async (name) => {
      const r = await get('/v1/group/nodes/' + enc(name));
      return { name, nodes: r.nodes || [] };
    });
  }

  // ---------------------------------------------------------------- pages

  async function overview() {
    const can = await may(['/v1/cert/list/', '/v1/cert/describe/x', '/v1/group/list/', '/v1/group/nodes/x', '/v1/key/list/', '/v1/status', '/v1/metrics', '/v1/pki/certs/']);
    const page = [h('h1', { tabindex: '-1' }, 'Overview')];
    const [status, bs, gs, keys, issued] = await Promise.all([
      can['/v1/status'] ? get('/v1/status').catch((e) => ({ error: e })) : null,
      can['/v1/cert/list/'] && can['/v1/cert/describe/x'] ? bundles(true).catch((e) => ({ error: e })) : null,
      can['/v1/group/list/'] ? groupsWithNodes(can['/v1/group/nodes/x']).catch((e) => ({ error: e })) : null,
      can['/v1/key/list/'] ? listAll('/v1/key/list/').catch((e) => ({ error: e })) : null,
      // Certificates keygate's own PKI issued (where the server has one: 404 otherwise).
      can['/v1/pki/certs/'] ? get('/v1/pki/certs/').then((r) => r.certificates.filter((c) => !c.revoked_at), (e) => (e.status === 404 ? null : { error: e })) : null,
    ]);
    const card = (label, value, sub) => h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
    const cards = h('div', { class: 'cards' });
    const count = (x) => (x === null ? 'not allowed' : x.error ? 'error' : String(x.length));
    cards.append(card('Certificate bundles', count(bs)));
    cards.append(card('Groups', count(gs)));
    if (gs && !gs.error && gs.every((g) => g.nodes)) {
      const nodes = gs.flatMap((g) => g.nodes.filter((n) => !n.revoked_at));
      const alive = nodes.filter((n) => n.last_seen && Date.now() - new Date(n.last_seen).getTime() < ALIVE_MS).length;
      cards.append(card('Nodes', String(nodes.length), `${alive} alive, ${nodes.length - alive} stale (not seen for 15 min)`));
    }
    cards.append(card('Master keys', count(keys)));
    if (issued) cards.append(card('Issued certificates', count(issued), 'live, not revoked'));
    if (status && !status.error) cards.append(card('Keystore', status.keystore_unreachable ? 'unreachable' : 'healthy', status.keystore_unreachable ? '' : `latency ${status.keystore_latency} ms`));
    else cards.append(card('Keystore', status === null ? 'not allowed' : 'error'));
    page.push(cards);

    if (can['/v1/metrics']) page.push(section('Requests', traffic()));

    if (bs && !bs.error) {
      if (bs.length === 0 && gs && !gs.error && gs.length === 0) {
        page.push(h('div', { class: 'empty' }, h('h2', {}, 'Nothing here yet'),
          h('p', {}, 'Start by importing a certificate bundle (its chain and private key) on the ', h('a', { href: '#/bundles' }, 'Certificates'), ' page, then create a group for the machines that serve it on ', h('a', { href: '#/groups' }, 'Groups and nodes'), ' and assign the bundle to it. A node registers with the group token and fetches it; its "last seen" shows here.')));
      }
      const next = [...bs].sort((a, b) => Date.parse(a.not_after) - Date.parse(b.not_after)).slice(0, 10);
      page.push(section('Next expiries', table('Next 10 expiries', ['Bundle', 'Expires', 'State', 'Groups'],
        next.map((b) => { const bk = bucket(b.not_after); return h('tr', { class: bk.key }, h('td', { class: 'name' }, h('a', { href: '#/bundle/' + enc(b.name) }, b.name)), h('td', {}, timeEl(b.not_after)), h('td', {}, badge(bk)), h('td', {}, b.groups.join(', ') || '—')); }),
        'No certificate bundle yet.')));
    } else if (bs === null) page.push(refused('list certificate bundles', '/v1/cert/list/'));
    else page.push(errorLine(bs.error));
    return page;
  }

  /** Request and error rate from the server's own counters, sampled while the page is open. */
  function traffic() {
    const samples = [];
    const box = h('div', { class: 'cards' });
    const draw = () => {
      const rates = [];
      for (let i = 1; i < samples.length; i++) {
        const dt = (samples[i].t - samples[i - 1].t) / 1000;
        rates.push({ all: Math.max(0, samples[i].all - samples[i - 1].all) / dt, err: Math.max(0, samples[i].err - samples[i - 1].err) / dt });
      }
      const last = rates[rates.length - 1];
      box.replaceChildren(
        h('div', { class: 'card' }, h('div', { class: 'label' }, 'Request rate'), h('div', { class: 'value' }, last ? `${last.all.toFixed(1)}/s` : '…'),
          KeygateCharts.sparkline([{ values: rates.map((r) => r.all) }], 'Requests per second over the last minutes')),
        h('div', { class: 'card' }, h('div', { class: 'label' }, 'Error rate (4xx and 5xx)'), h('div', { class: 'value' }, last ? `${last.err.toFixed(1)}/s` : '…'),
          KeygateCharts.sparkline([{ values: rates.map((r) => r.err), error: true }], 'Errors per second over the last minutes')));
    };
    const sample = async () => {
      try {
        const text = await (await fetch('/v1/metrics', { credentials: 'same-origin', cache: 'no-store' })).text();
        const sum = (names) => names.reduce((acc, n) => acc + [...text.matchAll(new RegExp('^' + n + '(?:\\{[^}]*\\})? ([0-9.e+-]+)$', 'gm'))].reduce((a, m) => a + Number(m[1]), 0), 0);
        samples.push({ t: Date.now(), all: sum(['kes_http_request_success', 'kes_http_request_error', 'kes_http_request_failure']), err: sum(['kes_http_request_error', 'kes_http_request_failure']) });
        if (samples.length > 60) samples.shift();
        draw();
      } catch { /* the next sample tries again */ }
    };
    draw();
    sample();
    const timer = setInterval(sample, 5000);
    cleanups.push(() => clearInterval(timer));
    return box;
  }

  async function bundlesPage() {
    const can = await may(['/v1/cert/list/', '/v1/cert/describe/x', '/v1/cert/import/*', '/v1/group/list/']);
    const page = [h('h1', { tabindex: '-1' }, 'Certificates')];
    const importing = can['/v1/cert/import/*'] ? importForm(null) : null;
    if (!can['/v1/cert/list/']) {
      page.push(refused('list certificate bundles', '/v1/cert/list/'), openByName());
      if (importing) page.push(importing);
      return page;
    }
    const all = await bundles(true);
    const groups = can['/v1/group/list/'] ? await listAll('/v1/group/list/').catch(() => []) : [];
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const labelIn = h('input', { type: 'search', value: params.get('label') || '', placeholder: 'key=value' });
    const groupIn = h('select', {}, h('option', { value: '' }, 'any group'), groups.map((g) => h('option', { value: g, selected: g === params.get('group') }, g)));
    const holder = h('div');
    const apply = () => {
      const [lk, lv] = labelIn.value.split('=').map((s) => s.trim());
      const shown = all.filter((b) => (!lk || (lv === undefined ? lk in b.labels : b.labels[lk] === lv)) && (!groupIn.value || b.groups.includes(groupIn.value)));
      shown.sort((a, b) => Date.parse(a.not_after) - Date.parse(b.not_after));
      const items = shown.map((b) => { const bk = bucket(b.not_after); return { name: b.name, time: Date.parse(b.not_after), bucket: bk.key, text: bk.text, href: '#/bundle/' + enc(b.name) }; });
      holder.replaceChildren(
        shown.length ? KeygateCharts.timeline(items, { now: Date.now(), label: 'Expiry timeline: each bundle at its expiry date', formatTick: (t) => new Date(t).toLocaleDateString() }) : h('span'),
        table('Bundles by expiry', ['Bundle', 'Expires', 'State', 'Labels', 'Groups'], shown.map((b) => {
          const bk = bucket(b.not_after);
          return h('tr', { class: bk.key }, h('td', { class: 'name' }, h('a', { href: '#/bundle/' + enc(b.name) }, b.name)), h('td', {}, timeEl(b.not_after)), h('td', {}, badge(bk)),
            h('td', {}, Object.entries(b.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—'), h('td', {}, b.groups.join(', ') || '—'));
        }), all.length === 0 ? 'No certificate bundle yet: import one with the form below (or `keygate cert import`).' : 'No bundle matches these filters.'));
      say(`${shown.length} bundles shown`);
    };
    labelIn.addEventListener('input', apply);
    groupIn.addEventListener('change', apply);
    page.push(section('Expiry timeline',
      h('div', { class: 'legend' }, ['expired', 'week', 'month', 'later'].map((k) => badge({ key: k, text: { expired: 'expired', week: 'under 7 days', month: 'under 30 days', later: 'later' }[k] }))),
      h('div', { class: 'filters', role: 'search' }, field('filter-label', 'Label', labelIn), field('filter-group', 'Group', groupIn)), holder));
    if (importing) page.push(importing);
    apply();
    return page;
  }

  function openByName() {
    const name = h('input', { type: 'text', required: true });
    const go = h('button', { type: 'submit' }, 'Open');
    const form = h('form', { class: 'panel', 'aria-label': 'Open a bundle by name' }, field('open-name', 'Bundle name', name), go);
    form.addEventListener('submit', (e) => { e.preventDefault(); location.hash = '#/bundle/' + enc(name.value.trim()); });
    return form;
  }

  /** Import a new bundle (`current` null) or a replacement of `current`, validated by the API itself. */
  function importForm(current) {
    const id = current ? 'replace' : 'import';
    const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
    const ttl = h('input', { type: 'number', min: '1', max: '31536000', required: true, value: String(current ? current.ttl : 3600) });
    const submit = h('button', { type: 'submit' }, current ? 'Import replacement' : 'Import bundle');
    /** Dropped files go where they belong: certificates to the chain, a key to the key field. */
    const sortDrop = (text) => {
      const { certificates, key } = pemBlocks(text);
      if (!certificates && !key) return false;
      if (certificates) form.querySelector(`#${id}-cert`).value = certificates;
      if (key) form.querySelector(`#${id}-key`).value = key;
      return true;
    };
    const form = h('form', { class: 'panel', 'aria-label': current ? 'Import a replacement' : 'Import a bundle', id: id + '-form' },
      h('h2', {}, current ? 'Import a replacement' : 'Import a bundle'),
      current ? null : field(id + '-name', 'Name', name, 'Letters, digits, . _ - (e.g. www.example.com); *.example.com for a wildcard.'),
      pemArea(id + '-cert', 'Certificate chain (PEM)', 'Paste the leaf first, then its intermediates, or drop the files (a dropped key goes to its own field).', sortDrop),
      pemArea(id + '-key', 'Private key (PEM)', 'Paste or drop the key file; it is sent to keygate and never shown again.', sortDrop),
      field(id + '-ttl', 'TTL (seconds)', ttl, 'How long a node may keep it in memory.'),
      submit);
    form.addEventListener('submit', action(submit, async () => {
      const target = current ? current.name : name.value.trim();
      const body = { certificate: form.querySelector(`#${id}-cert`).value, private_key: form.querySelector(`#${id}-key`).value, ttl: Number(ttl.value) };
      if (current) body.version = current.version;
      const r = await api('PUT', '/v1/cert/import/' + enc(target), body);
      form.querySelector(`#${id}-key`).value = '';
      return { ...r, name: target };
    }, async (r) => {
      say(`Imported ${r.name}`);
      if (current) await route(); else location.hash = '#/bundle/' + enc(r.name);
    }));
    return form;
  }

  async function bundlePage(name) {
    const page = [h('h1', { tabindex: '-1' }, name)];
    let b;
    try { b = await get('/v1/cert/describe/' + enc(name)); } catch (err) {
      if (err.status === 403) return [...page, refused('describe this bundle', '/v1/cert/describe/' + canon(name))];
      return [...page, errorLine(err)];
    }
    const canGroups = await may(['/v1/group/list/']);
    const groups = canGroups['/v1/group/list/'] ? await listAll('/v1/group/list/').catch(() => []) : [];
    const can = await may(['/v1/cert/import/' + canon(name), ...groups.map((g) => `/v1/group/assign/${canon(g)}/${canon(name)}`), ...b.groups.map((g) => `/v1/group/unassign/${canon(g)}/${canon(name)}`)]);
    const bk = bucket(b.not_after);
    page.push(h('p', {}, badge(bk)));
    page.push(facts([
      ['Subject', b.subject], ['Issuer', b.issuer], ['DNS names', b.dns_names.join(', ') || '—'], ['IP addresses', (b.ip_addresses || []).join(', ') || '—'],
      ['Valid from', timeEl(b.not_before)], ['Expires', timeEl(b.not_after)], ['Key', `${b.key_type}${b.key_size ? ' ' + b.key_size : ''}`],
      ['Chain length', String(b.chain_length)], ['SHA-256 fingerprint', h('code', {}, b.fingerprint_sha256)], ['Serial', h('code', {}, b.serial)],
      ['TTL', `${b.ttl} s`], ['Labels', Object.entries(b.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—'],
      ['Version', h('code', {}, b.version)], ['Created', h('span', {}, timeEl(b.created_at), ' by ', b.created_by)], ['Updated', b.updated_at ? h('span', {}, timeEl(b.updated_at), ' by ', b.updated_by) : '—'],
    ]));
    const rows = b.groups.map((g) => {
      const path = `/v1/group/unassign/${canon(g)}/${canon(name)}`;
      const cell = h('td');
      if (can[path]) {
        const btn = h('button', { type: 'button', class: 'secondary', 'data-action': 'unassign', 'aria-label': `Unassign from ${g}` }, 'Unassign');
        btn.addEventListener('click', action(btn, () => api('DELETE', `/v1/group/unassign/${enc(g)}/${enc(name)}`)));
        cell.append(btn);
      }
      return h('tr', {}, h('td', { class: 'name' }, h('a', { href: '#/group/' + enc(g) }, g)), cell);
    });
    page.push(section('Groups', table('Groups this bundle is assigned to', ['Group', 'Actions'], rows, 'Not assigned to any group: nodes cannot fetch it yet.')));
    const assignable = groups.filter((g) => !b.groups.includes(g) && can[`/v1/group/assign/${canon(g)}/${canon(name)}`]);
    if (assignable.length) {
      const select = h('select', {}, assignable.map((g) => h('option', { value: g }, g)));
      const btn = h('button', { type: 'submit', 'data-action': 'assign' }, 'Assign');
      const form = h('form', { class: 'panel row', 'aria-label': 'Assign to a group' }, field('assign-group', 'Assign to group', select), h('div', { class: 'field' }, btn));
      form.addEventListener('submit', action(btn, () => api('PUT', `/v1/group/assign/${enc(select.value)}/${enc(name)}`), async () => { say(`Assigned to ${select.value}`); await route(); }));
      page.push(form);
    }
    if (can['/v1/cert/import/' + canon(name)]) page.push(importForm(b));
    return page;
  }

  async function groupsPage() {
    const can = await may(['/v1/group/list/', '/v1/group/nodes/x', '/v1/group/create/*']);
    const page = [h('h1', { tabindex: '-1' }, 'Groups and nodes')];
    if (can['/v1/group/create/*']) {
      const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
      const btn = h('button', { type: 'submit', 'data-action': 'create-group' }, 'Create group');
      const form = h('form', { class: 'panel row', 'aria-label': 'Create a group' }, field('group-name', 'New group name', name), h('div', { class: 'field' }, btn));
      form.addEventListener('submit', action(btn, () => api('PUT', '/v1/group/create/' + enc(name.value.trim()), {}), (r) => showTokenOnce(name.value.trim(), r.group_token, 'Provision every node of the group with this token: it registers nodes (keygate agent --group-token).')));
      page.push(form);
    }
    if (!can['/v1/group/list/']) return [...page, refused('list groups', '/v1/group/list/')];
    const gs = await groupsWithNodes(can['/v1/group/nodes/x']);
    page.push(table('Groups', ['Group', 'Nodes', 'Alive'], gs.map((g) => {
      const nodes = g.error ? null : (g.nodes || []).filter((n) => !n.revoked_at);
      const alive = nodes ? nodes.filter((n) => n.last_seen && Date.now() - Date.parse(n.last_seen) < ALIVE_MS).length : null;
      return h('tr', {}, h('td', { class: 'name' }, h('a', { href: '#/group/' + enc(g.name) }, g.name)), h('td', {}, nodes ? String(nodes.length) : '—'), h('td', {}, alive === null ? '—' : String(alive)));
    }), 'No group yet. Create one, assign bundles to it, and give its token to the machines that serve them.'));
    return page;
  }

  /** The nodes of a group with the actions this caller's policy allows on each. */
  async function nodesTable(g) {
    const cg = canon(g);
    const nodes = (await get('/v1/group/nodes/' + enc(g))).nodes || [];
    const can = await may(nodes.flatMap((n) => [`/v1/node/revoke/${cg}/${canon(n.node_id)}`, `/v1/node/ban/${cg}/${canon(n.node_id)}`]));
    return table('Nodes of ' + g, ['Node', 'Identity', 'Last seen', 'Token expires', 'State', 'Actions'], nodes.map((n) => {
      const cn = canon(n.node_id);
      const state = n.revoked_at ? h('span', { class: 'badge b-revoked' }, 'revoked') : n.last_seen && Date.now() - Date.parse(n.last_seen) < ALIVE_MS ? h('span', { class: 'badge b-alive' }, 'alive') : h('span', { class: 'badge b-stale' }, 'stale');
      const acts = h('div', { class: 'actions' });
      if (!n.revoked_at && can[`/v1/node/revoke/${cg}/${cn}`]) {
        const btn = h('button', { type: 'button', class: 'secondary', 'data-action': 'revoke', 'aria-label': `Revoke ${n.node_id}` }, 'Revoke');
        btn.addEventListener('click', action(btn, () => api('DELETE', `/v1/node/revoke/${enc(g)}/${enc(n.node_id)}`), async () => { say(`Revoked ${n.node_id}`); await route(); }));
        acts.append(btn);
      }
      if (can[`/v1/node/ban/${cg}/${cn}`]) {
        const btn = h('button', { type: 'button', class: 'danger', 'data-action': 'ban', 'aria-label': `Ban ${n.node_id}` }, 'Ban');
        btn.addEventListener('click', action(btn, () => api('PUT', `/v1/node/ban/${enc(g)}/${enc(n.node_id)}`), async () => { say(`Banned ${n.node_id}`); await route(); }));
        acts.append(btn);
      }
      return h('tr', { 'data-node': n.node_id }, h('td', { class: 'name' }, n.node_id), h('td', { class: 'name' }, n.identity ? h('code', { title: n.identity }, n.identity.slice(0, 12) + '…') : '—'),
        h('td', {}, ago(n.last_seen)), h('td', {}, timeEl(n.token_expires_at)), h('td', {}, state, n.enrolled_at ? ' enrolled' : ''), h('td', {}, acts));
    }), 'No node yet. Give the group token to a machine\'s keygate agent: it registers as a node of this group and shows up here, with its last fetch.');
  }

  async function groupPage(g) {
    const page = [h('h1', { tabindex: '-1' }, 'Group ' + g)];
    let d;
    try { d = await get('/v1/group/describe/' + enc(g)); } catch (err) {
      return [...page, err.status === 403 ? refused('describe this group', '/v1/group/describe/' + canon(g)) : errorLine(err)];
    }
    const cg = canon(g);
    const first = await may([`/v1/group/nodes/${cg}`, `/v1/group/rotate/${cg}`, `/v1/node/unban/${cg}/x`]);
    page.push(facts([
      ['Node token TTL', `${d.token_ttl} s`], ['Callback', d.callback_url || 'none'], ['OAuth', d.oauth_url ? `${d.oauth_url} (client ${d.oauth_client_id}, secret ${d.oauth_client_secret_set ? 'set' : 'not set'})` : 'none'],
      ['Created', h('span', {}, timeEl(d.created_at), ' by ', d.created_by || '—')],
    ]));
    page.push(section('Bundles', d.bundles.length ? h('ul', {}, d.bundles.map((b) => h('li', {}, h('a', { href: '#/bundle/' + enc(b) }, b)))) : h('p', { class: 'empty' }, 'No bundle assigned: open a bundle and assign it to this group.')));
    if (!first[`/v1/group/nodes/${cg}`]) page.push(refused('list the nodes of this group', `/v1/group/nodes/${cg}`));
    else {
      const holder = h('div', { id: 'nodes' }, await nodesTable(g));
      page.push(section('Nodes', h('p', { class: 'muted' }, 'Refreshed every 20 seconds; a node writes its "last seen" at most once a minute.'), holder));
      // Last seen moves while the page is open; a table the operator is working in is left alone.
      const timer = setInterval(async () => {
        if (holder.contains(document.activeElement) || document.querySelector('dialog[open]')) return;
        try { holder.replaceChildren(await nodesTable(g)); } catch { /* the next refresh tries again */ }
      }, 20000);
      cleanups.push(() => clearInterval(timer));
    }
    if (first[`/v1/node/unban/${cg}/x`]) {
      const id = h('input', { type: 'text', required: true, autocomplete: 'off' });
      const btn = h('button', { type: 'submit', class: 'secondary', 'data-action': 'unban' }, 'Unban');
      const form = h('form', { class: 'panel row', 'aria-label': 'Unban a node' }, field('unban-node', 'Unban a node id or identity', id, 'A banned node can neither register nor enroll until it is unbanned.'), h('div', { class: 'field' }, btn));
      form.addEventListener('submit', action(btn, () => api('DELETE', `/v1/node/unban/${enc(g)}/${enc(id.value.trim())}`), async () => { say(`Unbanned ${id.value.trim()}`); await route(); }));
      page.push(form);
    }
    if (first[`/v1/group/rotate/${cg}`]) {
      const btn = h('button', { type: 'button', class: 'danger', 'data-action': 'rotate' }, 'Rotate group token');
      const panel = h('section', { class: 'panel', 'aria-label': 'Rotate the group token' }, h('h2', {}, 'Group token'),
        h('p', { class: 'warning' }, 'Rotating makes a new group token and kills the old one and every node token and enrollment of this group: every node must register again with the new token.'), btn);
      btn.addEventListener('click', action(btn, () => api('PUT', '/v1/group/rotate/' + enc(g)), (r) => showTokenOnce(g, r.group_token, 'Every node token of this group is now dead: give this token to the nodes so they register again.')));
      page.push(panel);
    }
    return page;
  }

  /** One audit line, whichever shape the server streams: KES's request/response, or keygate's flat line. */
  function auditRow(obj) {
    if (obj.request && typeof obj.request === 'object') {
      return { time: obj.time, identity: obj.request.identity || '', ip: obj.request.ip || '', method: obj.request.method || '', path: obj.request.path || '', status: obj.response && obj.response.code, latency: obj.response && obj.response.time };
    }
    if (obj.event) return { time: obj.time, identity: obj.identity || obj.by || '', ip: '', method: 'event', path: obj.event, status: '', latency: '' };
    return { time: obj.time, identity: obj.identity || '', ip: obj.ip || '', method: obj.method || '', path: obj.path || '', status: obj.status, latency: obj.latency_ms !== undefined ? obj.latency_ms + ' ms' : '' };
  }

  async function auditPage() {
    const can = await may(['/v1/log/audit']);
    const page = [h('h1', { tabindex: '-1' }, 'Audit')];
    if (!can['/v1/log/audit']) return [...page, refused('read the audit stream', '/v1/log/audit')];
    const fIdentity = h('input', { type: 'search' });
    const fPath = h('input', { type: 'search' });
    const fStatus = h('select', {}, h('option', { value: '' }, 'any'), h('option', { value: '2' }, '2xx'), h('option', { value: '3' }, '3xx'), h('option', { value: '4' }, '4xx'), h('option', { value: '5' }, '5xx'));
    const body = h('tbody');
    const state = h('p', { class: 'muted', id: 'audit-state' }, 'Connecting to the live audit stream…');
    const rows = [];
    const shows = (r) => (!fIdentity.value || String(r.identity).includes(fIdentity.value)) && (!fPath.value || String(r.path).includes(fPath.value)) && (!fStatus.value || String(r.status).startsWith(fStatus.value));
    const rowEl = (r) => h('tr', {}, h('td', {}, timeEl(r.time)), h('td', {}, r.identity), h('td', {}, r.ip), h('td', {}, `${r.method} ${r.path}`), h('td', {}, String(r.status ?? '')), h('td', {}, String(r.latency ?? '')));
    const refilter = () => body.replaceChildren(...rows.filter(shows).map(rowEl));
    [fIdentity, fPath].forEach((i) => i.addEventListener('input', refilter));
    fStatus.addEventListener('change', refilter);
    page.push(h('div', { class: 'filters', role: 'search' }, field('audit-identity', 'Identity contains', fIdentity), field('audit-path', 'Path contains', fPath), field('audit-status', 'Status', fStatus)), state,
      h('div', { class: 'table-wrap log' }, h('table', {}, h('caption', { class: 'visually-hidden' }, 'Live audit lines, newest first'),
        h('thead', {}, h('tr', {}, ['Time', 'Identity', 'IP', 'Request', 'Status', 'Latency'].map((c) => h('th', { scope: 'col' }, c)))), body)));
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    (async () => {
      const r = await fetch('/v1/log/audit', { credentials: 'same-origin', signal: abort.signal, cache: 'no-store' });
      if (!r.ok || !r.body) throw new Error(`the audit stream answered ${r.status}`);
      state.textContent = 'Live: new requests appear at the top as they happen.';
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let row;
          try { row = auditRow(JSON.parse(line)); } catch { continue; }
          rows.unshift(row);
          if (rows.length > 500) rows.pop();
          if (shows(row)) { body.prepend(rowEl(row)); if (body.children.length > 500) body.lastChild.remove(); }
        }
      }
      state.textContent = 'The audit stream ended (the server restarted or reloaded): reload the page to follow it again.';
    })().catch((err) => { if (!abort.signal.aborted) state.textContent = 'The audit stream failed: ' + err.message; });
    return page;
  }

  async function accessPage() {
    const can = await may(['/v1/identity/list/', '/v1/identity/describe/x', '/v1/policy/read/x']);
    const page = [h('h1', { tabindex: '-1' }, 'Access: identities and their policies')];
    if (!can['/v1/identity/list/']) return [...page, refused('list identities', '/v1/identity/list/')];
    const ids = await listAll('/v1/identity/list/', 'identities');
    const described = can['/v1/identity/describe/x'] ? await pool(ids, 6, (id) => get('/v1/identity/describe/' + enc(id))) : ids.map(() => null);
    const policies = {};
    if (can['/v1/policy/read/x']) {
      const names = [...new Set(described.filter((d) => d && d.policy).map((d) => d.policy))];
      (await pool(names, 6, (p) => get('/v1/policy/read/' + enc(p)))).forEach((p, i) => { policies[names[i]] = p; });
    }
    page.push(table('Who may do what', ['Identity', 'Policy', 'Allow', 'Deny'], ids.map((id, i) => {
      const d = described[i];
      const p = d && d.policy ? policies[d.policy] : null;
      const list = (set) => (set && Object.keys(set).length ? h('ul', {}, Object.keys(set).map((k) => h('li', {}, h('code', {}, k)))) : '—');
      return h('tr', {}, h('td', { class: 'name' }, h('code', {}, id)), h('td', {}, d && d.admin ? 'admin (everything)' : d && d.policy ? d.policy : d && d.error ? 'unknown' : '—'),
        h('td', {}, p && !p.error ? list(p.allow) : '—'), h('td', {}, p && !p.error ? list(p.deny) : '—'));
    }), 'No identity is configured besides the admin.'));
    return page;
  }

  // ---------------------------------------------------------------- routing

  const PAGES = [
    [/^#\/overview$/, overview],
    [/^#\/bundles(?:\?.*)?$/, bundlesPage],
    [/^#\/bundle\/(.+)$/, (m) => bundlePage(decodeURIComponent(m))],
    [/^#\/groups$/, groupsPage],
    [/^#\/group\/(.+)$/, (m) => groupPage(decodeURIComponent(m))],
    [/^#\/audit$/, auditPage],
    [/^#\/access$/, accessPage],
  ];

  let rendering = 0;
  async function route() {
    cleanups.forEach((f) => f());
    cleanups = [];
    const mine = ++rendering;
    if (!me || me.kind === 'anonymous') {
      main.replaceChildren(...renderSignIn());
      main.setAttribute('data-page', 'sign-in');
      focusHeading();
      return;
    }
    const hash = location.hash || '#/overview';
    const found = PAGES.map(([re, fn]) => [re.exec(hash), fn]).find(([m]) => m);
    const [m, fn] = found || [[null], overview];
    document.querySelectorAll('#nav a').forEach((a) => {
      const here = hash.startsWith(a.getAttribute('href')) || (a.getAttribute('href') === '#/bundles' && hash.startsWith('#/bundle/')) || (a.getAttribute('href') === '#/groups' && hash.startsWith('#/group/'));
      if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
    main.setAttribute('aria-busy', 'true');
    let content;
    try { content = await fn(m[1]); } catch (err) { content = [h('h1', { tabindex: '-1' }, 'Something failed'), errorLine(err)]; }
    if (mine !== rendering) return;
    main.replaceChildren(...content);
    main.setAttribute('data-page', (fn.name || 'page'));
    main.removeAttribute('aria-busy');
    document.title = `${(main.querySelector('h1') || {}).textContent || 'Dashboard'} — keygate`;
    focusHeading();
  }

  let firstRender = true;
  /** After a page change the heading gets the focus (screen readers announce it); a fresh load leaves it at the top. */
  function focusHeading() {
    if (firstRender) { firstRender = false; return; }
    const h1 = main.querySelector('h1');
    if (h1 && document.activeElement !== h1 && !document.querySelector('dialog[open]')) h1.focus({ preventScroll: true });
  }

  async function start() {
    try { me = await get('/ui/session'); } catch (err) {
      // A dead session: that answer cleared its cookie, and api() has started again already.
      if (err.code === 'SESSION_ENDED') return;
      me = { kind: 'anonymous', login_available: false }; say(err.message);
    }
    document.getElementById('nav').hidden = me.kind === 'anonymous';
    renderWho();
    await route();
  }

  window.addEventListener('hashchange', () => { route(); });
  start();
})();
