/**
 * The dashboard's session cookie, attacked: its scope (`__Host-`, Path=/, no Domain, lives
 * exactly as long as its token), fixation (a login never adopts a cookie it was sent), the
 * same-origin check in every spelling of another origin (on reads, writes, the who-am-I
 * route and the login), logout revoking the token server-side (the cookie's value is
 * useless afterwards, also as an RKS admin token), and a session never reaching a key
 * operation, whatever the route's spelling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { SESSION_COOKIE } from '../../src/auth/session.js';

const ADMIN = { login: 'ops', password: 'pw-session-cookie-7q' };
const json = { 'Content-Type': 'application/json' };
let s: TestServer;
let host = '';

beforeAll(async () => {
  // Shorter than the dashboard's 15 minutes: the cookie must not outlive its token.
  // No throttle here: every refusal below is meant (the throttle is attacked in throttle-credentials).
  s = await startTestServer({ config: { rks: { admin: ADMIN, admin_token_ttl: '2m' }, limits: { auth_failures: 0 } } });
  host = new URL(s.url).host;
});
afterAll(() => s?.close());

async function login(headers: Record<string, string> = {}): Promise<{ cookie: string; csrf: string; setCookie: string; expiresAt: number }> {
  const r = await s.call(null, '/ui/login', { method: 'POST', body: ADMIN, headers: { ...json, ...headers } });
  expect(r.status, r.text).toBe(200);
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] as string;
  return { cookie: setCookie.split(';')[0] as string, csrf: r.json.csrf_token, setCookie, expiresAt: Date.parse(r.json.expires_at) };
}

describe('the session cookie', () => {
  it('is scoped to this host and path and lives exactly as long as its token', async () => {
    const before = Date.now();
    const { setCookie, expiresAt } = await login();
    const attrs = setCookie.split(';').map((a) => a.trim());
    expect(attrs[0]?.startsWith(`${SESSION_COOKIE}=kga_`)).toBe(true);
    expect(SESSION_COOKIE.startsWith('__Host-')).toBe(true);
    expect(attrs).toEqual(expect.arrayContaining(['Path=/', 'HttpOnly', 'Secure', 'SameSite=Strict']));
    expect(attrs.some((a) => /^domain=/i.test(a))).toBe(false);
    const maxAge = Number(attrs.find((a) => a.startsWith('Max-Age='))?.slice(8));
    expect(maxAge).toBe(120);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 119_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
  });

  it('cannot be fixed: a login mints a new session whatever cookie it is sent, and a chosen value never becomes one', async () => {
    const chosen = `${SESSION_COOKIE}=kga_${'F'.repeat(43)}`;
    const first = await login({ Cookie: chosen });
    expect(first.cookie).not.toBe(chosen);
    const second = await login({ Cookie: first.cookie });
    expect(second.cookie).not.toBe(first.cookie);
    expect((await s.call(null, '/v1/status', { headers: { Cookie: chosen } })).status).toBe(403);
    for (const c of [first, second]) expect((await s.call(null, '/v1/status', { headers: { Cookie: c.cookie } })).status).toBe(200);
  });

  it('is refused from every other origin, in every spelling, on reads, writes, who-am-I and login', async () => {
    const { cookie, csrf } = await login();
    const [hostname, port] = host.split(':') as [string, string];
    const foreign: Array<Record<string, string>> = [
      { Origin: 'null' },
      { Origin: 'https://evil.example' },
      { Origin: `http://${host}` },
      { Origin: `https://${host}/` },
      { Origin: `https://${host.toUpperCase()}` },
      { Origin: `https://${hostname}` },
      { Origin: `https://${hostname}:${Number(port) + 1}` },
      { Origin: `https://evil.${host}` },
      { Origin: `https://${host}.evil.example` },
      { Origin: `https://${host}@evil.example` },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
      { 'Sec-Fetch-Site': 'cross-site', Origin: `https://${host}` },
      { 'Sec-Fetch-Site': 'same-origin', Origin: 'https://evil.example' },
    ];
    let refused = 0;
    for (const h of foreign) {
      const what = JSON.stringify(h);
      const read = await s.call(null, '/v1/status', { headers: { Cookie: cookie, ...h } });
      const write = await s.call(null, '/v1/group/create/from-elsewhere', {
        method: 'PUT',
        body: {},
        headers: { Cookie: cookie, 'X-Keygate-CSRF': csrf, ...h },
      });
      const who = await s.call(null, '/ui/session', { headers: { Cookie: cookie, ...h } });
      const again = await s.call(null, '/ui/login', { method: 'POST', body: ADMIN, headers: { ...json, ...h } });
      for (const [route, r] of [
        ['read', read],
        ['write', write],
        ['who-am-I', who],
        ['login', again],
      ] as const) {
        expect(r.status, `${route} ${what}: ${r.text}`).toBe(403);
        expect(r.json.message, `${route} ${what}`).toMatch(/own origin/);
        refused++;
      }
    }
    expect((await s.call(null, '/v1/group/describe/from-elsewhere', { headers: { Cookie: cookie } })).status).toBe(404);
    // The dashboard's own origin, said or unsaid, is accepted.
    for (const h of [{}, { Origin: `https://${host}` }, { 'Sec-Fetch-Site': 'same-origin', Origin: `https://${host}` }, { 'Sec-Fetch-Site': 'none' }]) {
      expect((await s.call(null, '/v1/status', { headers: { Cookie: cookie, ...h } })).status, JSON.stringify(h)).toBe(200);
    }
    expect(refused).toBe(foreign.length * 4);
  });

  it('ends on the server at logout: the value is then useless as a cookie and as an RKS admin token', async () => {
    const { cookie, csrf } = await login();
    const value = cookie.slice(SESSION_COOKIE.length + 1);
    // A session is an admin token: before logout it works as one (the documented strength of a stolen cookie) ...
    expect((await s.call(null, '/rks/v1/admin/tokens', { headers: { 'X-Vault-Token': value } })).status).not.toBe(403);
    expect((await s.call(null, '/ui/logout', { method: 'POST', headers: { Cookie: cookie, 'X-Keygate-CSRF': csrf } })).json).toEqual({ logged_out: true });
    // ... after it, nowhere.
    expect((await s.call(null, '/v1/status', { headers: { Cookie: cookie } })).status).toBe(403);
    expect((await s.call(null, '/rks/v1/group/any', { headers: { 'X-Vault-Token': value } })).status).toBe(403);
    expect((await s.call(null, '/rks/v1/auth/token/renew-self', { method: 'POST', headers: { 'X-Vault-Token': value } })).status).toBe(403);
  });

  it('never reaches a key operation, in any spelling of the path', async () => {
    const { cookie, csrf } = await login();
    const headers = { Cookie: cookie, 'X-Keygate-CSRF': csrf };
    expect((await s.call(s.admin, '/v1/key/create/sk', { method: 'PUT' })).status).toBe(200);
    const ops = ['create', 'import', 'delete', 'generate', 'encrypt', 'decrypt', 'hmac', 'rotate', 'rewrap', 'config'];
    for (const op of ops) {
      for (const path of [
        `/v1/key/${op}/sk`,
        `/v1/key/${op}/%73k`,
        `/v1/key/${op.toUpperCase()}/sk`,
        `/v1/key/list/../${op}/sk`,
        `/v1/key/describe/..%2F${op}%2Fsk`,
      ]) {
        for (const method of ['PUT', 'POST', 'GET', 'DELETE']) {
          const r = await s.call(null, path, { method, body: method === 'GET' || method === 'DELETE' ? undefined : {}, headers });
          expect(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status}`).toBe(true);
          expect(r.text, `${method} ${path}`).not.toMatch(/plaintext|"bytes"|ciphertext/);
        }
      }
    }
    expect((await s.call(s.admin, '/v1/key/describe/sk')).status).toBe(200);
  });
});
