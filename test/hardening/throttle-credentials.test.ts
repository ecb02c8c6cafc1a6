/**
 * Every credential check counts its failures in the server's one throttle.
 *
 * For each kind of credential — a client certificate refused by policy or missing,
 * a group token, a node token, a node's credential, a bearer token on a grant
 * route, RKS's init token on EVERY route that accepts it, an RKS admin token,
 * the admin login, renew-self, Vault-shaped tokens (adopted RKS group tokens),
 * dashboard session cookies (forged, logged out, on every route that reads one) and
 * their CSRF tokens — a client that fails `limit` times is answered
 * 429 afterwards, even when it then presents the right credential, while another
 * address is not affected. Each case comes from its own loopback address.
 */
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { request, type Credentials, type TestResponse } from '../helpers/http.js';
import type { TestClient } from '../helpers/certs.js';
import { recordFigure } from './figures.js';

const LIMIT = 3;
const INIT = 'init-throttle-Kq2';
const ADMIN = { login: 'ops', password: 'pw-throttle-9z' };
const BOGUS = { kgg: 'kgg_' + 'A'.repeat(43), kgn: 'kgn_' + 'B'.repeat(43), kga: 'kga_' + 'C'.repeat(43) };

let s: TestServer;
let stranger: TestClient;
let groupToken = '';
let nextAddress = 10;
let kinds = 0;
const agents: https.Agent[] = [];

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      stranger = pki.client({ commonName: 'stranger' });
      return {};
    },
    config: { rks: { init_token: INIT, admin: ADMIN }, limits: { auth_failures: LIMIT, auth_failure_window: '10m' } },
  });
  const g = await s.call(s.admin, '/v1/group/create/edge', { method: 'PUT' });
  groupToken = g.json.group_token;
});
afterAll(async () => {
  recordFigure('throttle-credentials', { credentialChecks: kinds, limit: LIMIT });
  for (const a of agents) a.destroy();
  await s?.close();
});

/** A client from a loopback address no other case uses. */
function fromNewAddress() {
  const n = nextAddress++;
  const agent = new https.Agent({ localAddress: `127.0.${Math.floor(n / 250)}.${(n % 250) + 1}`, keepAlive: false });
  agents.push(agent);
  const url = s.url.replace('localhost', '127.0.0.1');
  return (who: Credentials | null, path: string, opts: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<TestResponse> =>
    request(url, s.pki.ca.certPem, who, path, { ...opts, agent });
}

type Send = ReturnType<typeof fromNewAddress>;

/** `fail` LIMIT times (each must be refused, not throttled yet); then `good` is throttled from there, and not elsewhere. */
async function expectCounted(what: string, fail: (send: Send) => Promise<TestResponse>, good: (send: Send) => Promise<TestResponse>): Promise<void> {
  const send = fromNewAddress();
  expect((await good(fromNewAddress())).status, `${what}: the right credential works`).not.toBe(429);
  for (let i = 0; i < LIMIT; i++) {
    const r = await fail(send);
    expect([400, 401, 403], `${what}: attempt ${i + 1} → ${r.status} ${r.text}`).toContain(r.status);
  }
  const after = await good(send);
  expect(after.status, `${what}: after ${LIMIT} failures`).toBe(429);
  expect(Number(after.headers['retry-after'])).toBeGreaterThan(0);
  expect((await good(fromNewAddress())).status, `${what}: another address`).not.toBe(429);
  kinds++;
}

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const vault = (t: string) => ({ 'X-Vault-Token': t });

describe('the one throttle counts every credential kind', () => {
  it('client certificates: refused by policy, and missing', async () => {
    await expectCounted(
      'policy',
      (send) => send(stranger, '/v1/key/list/*'),
      (send) => send(s.admin, '/v1/key/list/*'),
    );
    await expectCounted(
      'no certificate',
      (send) => send(null, '/v1/key/list/*'),
      (send) => send(s.admin, '/v1/key/list/*'),
    );
  });

  it('group, node and bearer tokens on the keygate surface', async () => {
    const register = (token: string) => (send: Send) =>
      send(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'n1' }, headers: bearer(token) });
    await expectCounted('group token', register(BOGUS.kgg), register(groupToken));
    const node = (await register(groupToken)(fromNewAddress())).json.node_token as string;
    await expectCounted(
      'node token (renew)',
      (send) => send(null, '/v1/node/renew', { method: 'PUT', headers: bearer(BOGUS.kgn) }),
      (send) => send(null, '/v1/node/renew', { method: 'PUT', headers: bearer(node) }),
    );
    await expectCounted(
      'node credential (bundles)',
      (send) => send(null, '/v1/node/bundles', { headers: bearer('not-a-token') }),
      (send) => send(null, '/v1/node/bundles', { headers: bearer(node) }),
    );
    await expectCounted(
      'bearer token on a grant route',
      (send) => send(null, '/v1/cert/get/www.example.com', { headers: bearer(BOGUS.kgn) }),
      (send) => send(s.admin, '/v1/key/list/*'),
    );
  });

  it("RKS's init token, on every route that accepts it", async () => {
    const api = (await s.call(s.admin, '/v1/api')).json as Array<{ method: string; path: string }>;
    // Every RKS route but login (a password) and the two that take a node's or group's own token.
    const takesInit = api.filter(
      (r) =>
        r.path.startsWith('/rks/v1/') &&
        !['/rks/v1/admin/login', '/rks/v1/node', '/rks/v1/auth/token/renew-self', '/rks/v1/auth/token/revoke-self'].includes(r.path),
    );
    expect(takesInit.length).toBeGreaterThanOrEqual(18);
    for (const r of takesInit) {
      const path = r.path.replace('{groupname}', 'edge').replace('{fqdn}', 'www.example.com').replace('{nodeId}', 'n1');
      // A bodyless GET the init token may make stands for "the right credential" (init itself answers 409 after once).
      await expectCounted(
        `init token: ${r.method} ${r.path}`,
        (send) => send(null, path, { method: r.method, headers: vault('wrong-init-token') }),
        (send) => send(null, '/rks/v1/group/edge', { headers: vault(INIT) }),
      );
    }
  });

  it('RKS admin tokens, the admin login and renew-self', async () => {
    await expectCounted(
      'admin token',
      (send) => send(null, '/rks/v1/group/edge', { headers: vault(BOGUS.kga) }),
      (send) => send(null, '/rks/v1/group/edge', { headers: vault(INIT) }),
    );
    const login = (password: string) => (send: Send) =>
      send(null, '/rks/v1/admin/login', { method: 'POST', body: { login: ADMIN.login, password }, headers: { 'Content-Type': 'application/json' } });
    await expectCounted('admin login', login('wrong'), login(ADMIN.password));
    await expectCounted(
      'login body that does not decode',
      (send) => send(null, '/rks/v1/admin/login', { method: 'POST', body: '{"login":', headers: { 'Content-Type': 'application/json' } }),
      login(ADMIN.password),
    );
    await expectCounted(
      'renew-self',
      (send) => send(null, '/rks/v1/auth/token/renew-self', { method: 'POST', headers: vault(BOGUS.kgn) }),
      (send) => send(null, '/rks/v1/auth/token/renew-self', { method: 'POST', headers: vault(groupToken) }),
    );
  });

  it('Vault-shaped tokens (s.…, hvs.…: adopted RKS group tokens) on every token-taking kind of route', async () => {
    const vaultShaped = ['s.' + 'D'.repeat(24), 'hvs.' + 'E'.repeat(90)];
    for (const t of vaultShaped) {
      const register = (token: string) => (send: Send) =>
        send(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'vs1' }, headers: bearer(token) });
      await expectCounted(`${t.slice(0, 4)}… as a group token`, register(t), register(groupToken));
      await expectCounted(
        `${t.slice(0, 4)}… as a node credential`,
        (send) => send(null, '/v1/node/bundles', { headers: bearer(t) }),
        (send) => send(s.admin, '/v1/key/list/*'),
      );
      await expectCounted(
        `${t.slice(0, 4)}… as an RKS admin token`,
        (send) => send(null, '/rks/v1/group/edge', { headers: vault(t) }),
        (send) => send(null, '/rks/v1/group/edge', { headers: vault(INIT) }),
      );
      await expectCounted(
        `${t.slice(0, 4)}… on renew-self`,
        (send) => send(null, '/rks/v1/auth/token/renew-self', { method: 'POST', headers: vault(t) }),
        (send) => send(null, '/rks/v1/auth/token/renew-self', { method: 'POST', headers: vault(groupToken) }),
      );
    }
  });

  it('dashboard sessions: forged, logged-out and malformed cookies on every kind of route that reads one, and a wrong CSRF token', async () => {
    const session = async (): Promise<{ cookie: string; csrf: string }> => {
      const r = await fromNewAddress()(null, '/ui/login', { method: 'POST', body: ADMIN, headers: { 'Content-Type': 'application/json' } });
      expect(r.status, r.text).toBe(200);
      return { cookie: String(([] as string[]).concat(r.headers['set-cookie'] ?? [])[0]).split(';')[0] as string, csrf: r.json.csrf_token as string };
    };
    const live = await session();
    const dead = await session();
    expect((await fromNewAddress()(null, '/ui/logout', { method: 'POST', headers: { Cookie: dead.cookie, 'X-Keygate-CSRF': dead.csrf } })).status).toBe(200);
    const cookies = { forged: `__Host-keygate-session=${BOGUS.kga}`, 'logged out': dead.cookie, 'not a token': '__Host-keygate-session=x' };
    const good = (send: Send) => send(null, '/v1/status', { headers: { Cookie: live.cookie } });
    for (const [what, cookie] of Object.entries(cookies)) {
      // A policy route, and the dashboard's own routes that take a cookie (who-am-I, logout).
      await expectCounted(`${what} session cookie on a policy route`, (send) => send(null, '/v1/status', { headers: { Cookie: cookie } }), good);
      await expectCounted(`${what} session cookie on /ui/session`, (send) => send(null, '/ui/session', { headers: { Cookie: cookie } }), good);
      await expectCounted(
        `${what} session cookie on /ui/logout`,
        (send) => send(null, '/ui/logout', { method: 'POST', headers: { Cookie: cookie, 'X-Keygate-CSRF': live.csrf } }),
        good,
      );
    }
    // Every other route that takes a credential, of every surface: a forged cookie there is a failure too.
    const api = (await s.call(s.admin, '/v1/api')).json as Array<{ method: string; path: string }>;
    const open = new Set([
      '/version',
      '/docs',
      '/docs/',
      '/v1/openapi.json',
      '/healthz',
      '/metrics',
      '/',
      '/ui',
      '/ui/',
      '/ui/login',
      '/v1/pki/ca',
      '/v1/pki/crl',
    ]);
    const credentialed = api.filter((r) => !open.has(r.path) && !r.path.endsWith('/**') && !r.path.startsWith('/v1/log/'));
    expect(credentialed.length).toBeGreaterThan(50);
    for (const r of credentialed) {
      const path = r.path
        .replace('{groupname}', 'edge')
        .replace('{fqdn}', 'www.example.com')
        .replace('{nodeId}', 'n1')
        .replace(/\/$/, /\/(assign|unassign|revoke|ban|unban)\/$/.test(r.path) ? '/x1/x2' : '/x1');
      const method = r.method === '*' ? 'GET' : r.method;
      await expectCounted(`forged session cookie: ${method} ${r.path}`, (send) => send(null, path, { method, headers: { Cookie: cookies.forged } }), good);
    }
    const write = (csrf: string) => (send: Send) =>
      send(null, '/v1/group/create/throttled-ui', { method: 'PUT', body: {}, headers: { Cookie: live.cookie, 'X-Keygate-CSRF': csrf } });
    await expectCounted('a live session with a wrong CSRF token', write(live.csrf.slice(0, -1) + (live.csrf.endsWith('x') ? 'y' : 'x')), good);
    await expectCounted("a live session with another session's CSRF token", write(dead.csrf), good);
  });

  it('a valid token of the wrong kind is refused without counting: it was issued, not guessed', async () => {
    const send = fromNewAddress();
    const node = (await send(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'kinds' }, headers: bearer(groupToken) })).json
      .node_token as string;
    for (let i = 0; i < LIMIT * 2; i++) {
      expect((await send(null, '/rks/v1/group/edge', { headers: vault(groupToken) })).status).toBe(403);
      expect((await send(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'x' }, headers: bearer(node) })).status).toBe(403);
      expect((await send(null, '/v1/node/renew', { method: 'PUT', headers: bearer(groupToken) })).status).toBe(403);
      expect((await send(null, '/rks/v1/secret/www.example.com', { headers: vault(groupToken) })).status).toBe(403);
    }
    expect((await send(null, '/rks/v1/group/edge', { headers: vault(INIT) })).status).toBe(200);
  });
});
