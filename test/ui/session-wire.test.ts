/**
 * The dashboard's page and its RKS admin session on the wire (issue 16): headers of
 * the page, the session cookie, its CSRF token, the origin check, the session policy,
 * logout and mass revocation. Also runs against a server with two workers (the cookie
 * holds an admin token in the shared keystore, the CSRF token is derived from it, so
 * any worker accepts both).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { SESSION_COOKIE } from '../../src/auth/session.js';
import { UI_CSP } from '../../src/api/ui/index.js';

const ADMIN = { login: 'ops', password: 'correct horse battery staple' };
const json = { 'Content-Type': 'application/json' };
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ config: { rks: { admin: ADMIN } } });
});
afterAll(() => s.close());

async function login(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await s.call(null, '/ui/login', { method: 'POST', body: ADMIN, headers: json });
  expect(r.status, r.text).toBe(200);
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] as string;
  return { cookie: setCookie.split(';')[0] as string, csrf: r.json.csrf_token, setCookie };
}

describe('the page and the session on the wire', () => {
  it('serves the page with a strict CSP, no framing, and versioned assets; /ui redirects', async () => {
    const r = await s.call(null, '/ui/');
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toBe(UI_CSP);
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toContain('unsafe-inline');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.text).not.toMatch(/<script>|<style|style=/);
    for (const m of r.text.matchAll(/(?:src|href)="(\/ui\/[\w.]+\?v=[0-9a-f]{20})"/g)) {
      const a = await s.call(null, m[1] as string);
      expect(a.status, m[1]).toBe(200);
      expect(a.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    }
    expect((await s.call(null, '/ui/nope.js')).status).toBe(404);
    const redirect = await s.call(null, '/ui');
    expect(redirect.status).toBe(308);
    expect(redirect.headers['location']).toBe('/ui/');
  });

  it('says who is calling: nobody, a certificate with its policy decisions, or a session', async () => {
    const nobody = await s.call(null, '/ui/session?may=/v1/cert/list/');
    expect(nobody.json).toMatchObject({ kind: 'anonymous', login_available: true, may: { '/v1/cert/list/': false } });
    const admin = await s.call(s.admin, '/ui/session?may=/v1/key/create/k');
    expect(admin.json).toMatchObject({ kind: 'certificate', admin: true, may: { '/v1/key/create/k': true } });
    expect(admin.json.csrf_token).toBeUndefined();
    const { cookie } = await login();
    const session = await s.call(null, '/ui/session?may=/v1/cert/list/&may=/v1/key/create/k&may=/v1/key/decrypt/k', { headers: { Cookie: cookie } });
    expect(session.json).toMatchObject({
      kind: 'session',
      principal: 'session:ops',
      may: { '/v1/cert/list/': true, '/v1/key/create/k': false, '/v1/key/decrypt/k': false },
    });
    expect(session.json.csrf_token).toMatch(/^[\w-]{43}$/);
  });

  it('logs in with a cookie the script cannot read, refuses a wrong password and a login from another origin', async () => {
    const { setCookie } = await login();
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=kga_[\\w-]{43}; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict$`));
    const wrong = await s.call(null, '/ui/login', { method: 'POST', body: { ...ADMIN, password: 'nope' }, headers: json });
    expect(wrong.status).toBe(400);
    expect(wrong.json).toEqual({ message: 'invalid username or password' });
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const forged = await s.call(null, '/ui/login', { method: 'POST', body: ADMIN, headers: { ...json, Origin: 'https://evil.example' } });
    expect(forged.status).toBe(403);
    expect(forged.headers['set-cookie']).toBeUndefined();
    const form = await s.call(null, '/ui/login', { method: 'POST', raw: JSON.stringify(ADMIN), headers: { 'Content-Type': 'text/plain' } });
    expect(form.status).toBe(415);
    expect(s.logLines.join('\n')).not.toContain(ADMIN.password);
  });

  it('refuses a write without the CSRF token, and changes nothing', async () => {
    const { cookie, csrf } = await login();
    const bare = await s.call(null, '/v1/group/create/csrf-less', { method: 'PUT', body: {}, headers: { Cookie: cookie } });
    expect(bare.status).toBe(403);
    expect(bare.json.message).toContain('CSRF');
    const wrong = await s.call(null, '/v1/group/create/csrf-less', {
      method: 'PUT',
      body: {},
      headers: { Cookie: cookie, 'X-Keygate-CSRF': csrf.slice(1) + 'A' },
    });
    expect(wrong.status).toBe(403);
    expect((await s.call(s.admin, '/v1/group/describe/csrf-less')).status).toBe(404);
    const ok = await s.call(null, '/v1/group/create/csrf-ok', { method: 'PUT', body: {}, headers: { Cookie: cookie, 'X-Keygate-CSRF': csrf } });
    expect(ok.status, ok.text).toBe(200);
    // The audit log names the session.
    expect(s.logLines.some((l) => l.includes('"session:ops"') && l.includes('/v1/group/create/csrf-ok'))).toBe(true);
  });

  it("accepts the cookie from the dashboard's own origin only", async () => {
    const { cookie } = await login();
    const own = await s.call(null, '/v1/cert/list/', { headers: { Cookie: cookie, Origin: `https://localhost:${s.port}`, 'Sec-Fetch-Site': 'same-origin' } });
    expect(own.status).toBe(200);
    for (const headers of [
      { Origin: 'https://evil.example' },
      { Origin: `https://127.0.0.1:${s.port}` },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
    ]) {
      const r = await s.call(null, '/v1/cert/list/', { headers: { Cookie: cookie, ...headers } });
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.json.message).toContain("dashboard's own origin");
    }
  });

  it('keeps a session to its policy: no key material, no key operations', async () => {
    const { cookie, csrf } = await login();
    const headers = { Cookie: cookie, 'X-Keygate-CSRF': csrf };
    expect((await s.call(null, '/v1/key/create/ui-key', { method: 'PUT', headers })).status).toBe(403);
    expect((await s.call(null, '/v1/identity/self/describe', { headers })).status).toBe(400);
    expect((await s.call(null, '/v1/status', { headers })).status).toBe(200);
  });

  it('ends at logout: the token is revoked, the cookie cleared', async () => {
    const { cookie, csrf } = await login();
    expect((await s.call(null, '/ui/logout', { method: 'POST', headers: { Cookie: cookie } })).status).toBe(403);
    const out = await s.call(null, '/ui/logout', { method: 'POST', headers: { Cookie: cookie, 'X-Keygate-CSRF': csrf } });
    expect(out.status).toBe(200);
    expect(out.json).toEqual({ logged_out: true });
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    const after = await s.call(null, '/v1/cert/list/', { headers: { Cookie: cookie } });
    expect(after.status).toBe(403);
    expect(after.json.message).toContain('log in again');
    // A dead cookie is refused (a guess counts on every route) and cleared; without it the caller is anonymous.
    const dead = await s.call(null, '/ui/session', { headers: { Cookie: cookie } });
    expect(dead.status).toBe(403);
    expect(String(dead.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await s.call(null, '/ui/session')).json.kind).toBe('anonymous');
  });

  it('dies with every admin token (DELETE /rks/v1/admin/tokens)', async () => {
    const { cookie } = await login();
    expect((await s.call(null, '/v1/cert/list/', { headers: { Cookie: cookie } })).status).toBe(200);
    const admin = await s.call(null, '/rks/v1/admin/login', { method: 'POST', body: ADMIN, headers: json });
    expect((await s.call(null, '/rks/v1/admin/tokens', { method: 'DELETE', headers: { 'X-Vault-Token': admin.json.adminToken } })).status).toBe(200);
    expect((await s.call(null, '/v1/cert/list/', { headers: { Cookie: cookie } })).status).toBe(403);
  });
});
