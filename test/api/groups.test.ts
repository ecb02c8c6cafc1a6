/** `/v1/group/...` end to end: settings, tokens, rotation and deletion, assignments (also concurrent), policies. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';

const certs = new BundleCerts();
let s: TestServer;
let operator: TestClient;
let stranger: TestClient;

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function importBundle(name: string): Promise<void> {
  const b = certs.bundle({ dnsNames: [name] });
  const r = await s.call(s.admin, `/v1/cert/import/${name}`, { method: 'PUT', body: { certificate: b.chainPem, private_key: b.keyPem, ttl: 3600 } });
  expect(r.status, r.text).toBe(200);
}

async function createGroup(name: string, body: unknown = {}): Promise<string> {
  const r = await s.call(s.admin, `/v1/group/create/${name}`, { method: 'PUT', body });
  expect(r.status, r.text).toBe(200);
  return r.json.group_token as string;
}

beforeAll(async () => {
  s = await startTestServer({
    config: { limits: { auth_failures: 0 } },
    prepare: (pki) => {
      operator = pki.client({ commonName: 'operator' });
      stranger = pki.client({ commonName: 'stranger' });
      return {
        policy: {
          // May see every group, and manage assignments of group "edge" only.
          // Assigning hands a bundle's key to the group's nodes: it needs the right to read it.
          operator: {
            allow: ['/v1/group/describe/*', '/v1/group/list/*', '/v1/group/assign/edge/*', '/v1/group/unassign/edge/*', '/v1/cert/get/api.example.com'],
            identities: [operator.identity],
          },
        },
      };
    },
  });
  // Every group and node response must be what the OpenAPI document says.
  const call = s.call;
  s.call = async (who, path, opts) => {
    const r = await call(who, path, opts);
    if (/^\/v1\/(group|node)\//.test(path)) expectResponseMatchesSpec(opts?.method ?? 'GET', path, r);
    return r;
  };
  for (const n of ['www.example.com', 'api.example.com', '*.example.com']) await importBundle(n);
});
afterAll(() => s.close());

describe('group lifecycle', () => {
  it('creates a group, returns its token once, describes it without the client secret', async () => {
    const secret = 'client-secret-' + Math.random().toString(36).slice(2);
    const token = await createGroup('edge', {
      token_ttl: 300,
      callback_url: 'https://manager.example/callback/nodes',
      oauth_url: 'https://manager.example/oauth/token',
      oauth_client_id: 'cdn-1',
      oauth_client_secret: secret,
      oauth_mode: 'rks',
      callback_timeout: 2.5,
    });
    expect(token).toMatch(/^kgg_[A-Za-z0-9_-]{43}$/);
    const d = await s.call(s.admin, '/v1/group/describe/edge');
    expect(d.status).toBe(200);
    expect(d.json).toEqual({
      name: 'edge',
      token_ttl: 300,
      callback_url: 'https://manager.example/callback/nodes',
      oauth_url: 'https://manager.example/oauth/token',
      oauth_client_id: 'cdn-1',
      oauth_client_secret_set: true,
      oauth_mode: 'rks',
      callback_ca: '',
      callback_insecure: false,
      callback_timeout: 2.5,
      bundles: [],
      created_at: expect.any(String),
      created_by: s.admin.identity,
      updated_at: expect.any(String),
    });
    expect(d.text).not.toContain(secret);
    expect(d.text).not.toContain(token);
    for (const line of s.logLines) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain(token);
    }
  });

  it('refuses duplicates (409), bad names, unknown fields, wrong types and bad values (400), storing nothing', async () => {
    await createGroup('dup');
    const again = await s.call(s.admin, '/v1/group/create/dup', { method: 'PUT' });
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ message: 'group already exists' });
    const cases: Array<[string, unknown, string]> = [
      ['bad.name', {}, 'group name must be 1–80 characters of [0-9A-Za-z_-]'],
      ['g1', { nope: 1 }, "unknown field 'nope'"],
      ['g1', { token_ttl: '600' }, 'token_ttl must be a number'],
      ['g1', { callback_insecure: 'yes' }, 'callback_insecure must be a boolean'],
      ['g1', { callback_url: 'http://manager/cb' }, 'callback_url must be an https:// URL without credentials, query or fragment'],
      ['g1', { oauth_mode: 'magic' }, 'oauth_mode must be "rks" or "form"'],
      ['g1', { callback_ca: 'not pem' }, 'callback_ca must hold one or more PEM certificates'],
      ['g1', { token_ttl: 0 }, 'token_ttl must be a whole number of seconds from 1 to 2678400'],
    ];
    for (const [name, body, message] of cases) {
      const r = await s.call(s.admin, `/v1/group/create/${name}`, { method: 'PUT', body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toEqual({ message });
    }
    expect((await s.call(s.admin, '/v1/group/create/g1', { method: 'PUT', raw: '{"token_ttl":' })).json).toEqual({
      message: 'invalid request body: unexpected end of input at position 13',
    });
    expect((await s.call(s.admin, '/v1/group/describe/g1')).status).toBe(404);
    expect((await s.call(s.admin, '/v1/group/describe/bad.name')).status).toBe(400);
  });

  it('updates settings partially and keeps the secret unless given', async () => {
    await createGroup('upd', { oauth_client_secret: 'keep-me', token_ttl: 100 });
    const u = await s.call(s.admin, '/v1/group/update/upd', { method: 'PUT', body: { callback_insecure: true, oauth_client_secret: 'keep-me' } });
    expect(u.status).toBe(200);
    expect(u.json).toMatchObject({ token_ttl: 100, callback_insecure: true, oauth_client_secret_set: true });
    const bad = await s.call(s.admin, '/v1/group/update/upd', { method: 'PUT', body: { token_ttl: -5 } });
    expect(bad.status).toBe(400);
    expect((await s.call(s.admin, '/v1/group/describe/upd')).json.token_ttl).toBe(100);
    expect((await s.call(s.admin, '/v1/group/update/upd', { method: 'PUT', body: { oauth_client_secret: '' } })).json.oauth_client_secret_set).toBe(false);
    expect((await s.call(s.admin, '/v1/group/update/missing', { method: 'PUT', body: {} })).json).toEqual({ message: 'group does not exist' });
  });

  it('lists groups by pattern', async () => {
    await createGroup('list-a');
    await createGroup('list-b');
    const r = await s.call(s.admin, '/v1/group/list/list-*');
    expect(r.json).toEqual({ names: ['list-a', 'list-b'] });
    expect((await s.call(s.admin, '/v1/group/list/*')).json.names).toEqual(expect.arrayContaining(['edge', 'dup', 'list-a']));
    expect((await s.call(s.admin, '/v1/group/list/list-*?continue_at=list-b')).json).toEqual({ names: ['list-b'] });
    expect((await s.call(s.admin, '/v1/group/list/a.b*')).status).toBe(400);
  });

  it('rotates the token: the old one is refused with the stable message, the new one works', async () => {
    const old = await createGroup('rot');
    const r = await s.call(s.admin, '/v1/group/rotate/rot', { method: 'PUT' });
    expect(r.status).toBe(200);
    expect(r.json.group_token).not.toBe(old);
    const refused = await s.call(null, '/v1/node/register/rot', { method: 'PUT', body: { node_id: 'n1' }, headers: bearer(old) });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ message: 'not authorized: invalid, expired or revoked token' });
    const ok = await s.call(null, '/v1/node/register/rot', { method: 'PUT', body: { node_id: 'n1' }, headers: bearer(r.json.group_token) });
    expect(ok.status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/rotate/missing', { method: 'PUT' })).status).toBe(404);
  });

  it('deletes a group: its token dies, describe is 404, a second delete is 404', async () => {
    const token = await createGroup('gone');
    expect((await s.call(s.admin, '/v1/group/delete/gone', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/describe/gone')).json).toEqual({ message: 'group does not exist' });
    expect((await s.call(s.admin, '/v1/group/delete/gone', { method: 'DELETE' })).status).toBe(404);
    const r = await s.call(null, '/v1/node/register/gone', { method: 'PUT', body: { node_id: 'n1' }, headers: bearer(token) });
    expect(r.status).toBe(403);
  });
});

describe('assignments', () => {
  it('a forced bundle deletion takes the bundle out of its groups: a new bundle of that name is granted to nobody', async () => {
    await createGroup('forced');
    await importBundle('gone.example.com');
    expect((await s.call(s.admin, '/v1/group/assign/forced/gone.example.com', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/cert/delete/gone.example.com?force=true', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/describe/forced')).json.bundles).toEqual([]);
    await importBundle('gone.example.com');
    expect((await s.call(s.admin, '/v1/cert/describe/gone.example.com')).json.groups).toEqual([]);
  });

  it('assigns and unassigns bundles; the bundle shows its groups', async () => {
    await createGroup('asg');
    expect((await s.call(s.admin, '/v1/group/assign/asg/www.example.com', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/assign/asg/www.example.com', { method: 'PUT' })).status).toBe(200); // idempotent
    expect((await s.call(s.admin, '/v1/group/assign/asg/*.example.com', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/describe/asg')).json.bundles).toEqual(['*.example.com', 'www.example.com']);
    expect((await s.call(s.admin, '/v1/cert/describe/www.example.com')).json.groups).toEqual(['asg']);

    const missing = await s.call(s.admin, '/v1/group/assign/asg/missing.example.com', { method: 'PUT' });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ message: 'bundle does not exist' });
    expect((await s.call(s.admin, '/v1/group/assign/nope/www.example.com', { method: 'PUT' })).json).toEqual({ message: 'group does not exist' });
    expect((await s.call(s.admin, '/v1/group/assign/asg', { method: 'PUT' })).status).toBe(404);

    expect((await s.call(s.admin, '/v1/group/unassign/asg/www.example.com', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/unassign/asg/www.example.com', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/describe/asg')).json.bundles).toEqual(['*.example.com']);
    expect((await s.call(s.admin, '/v1/cert/describe/www.example.com')).json.groups).toEqual([]);
  });

  it('lands all of 20 parallel assigns of different bundles to one group', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `p${String(i).padStart(2, '0')}.example.org`);
    await Promise.all(names.map(importBundle));
    await createGroup('para');
    const results = await Promise.all(names.map((n) => s.call(s.admin, `/v1/group/assign/para/${n}`, { method: 'PUT' })));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 200));
    expect((await s.call(s.admin, '/v1/group/describe/para')).json.bundles).toEqual(names);
    // And 10 unassigns racing 10 re-assigns of others: the final list is exact.
    const mixed = await Promise.all([
      ...names.slice(0, 10).map((n) => s.call(s.admin, `/v1/group/unassign/para/${n}`, { method: 'DELETE' })),
      ...names.slice(10).map((n) => s.call(s.admin, `/v1/group/assign/para/${n}`, { method: 'PUT' })),
    ]);
    expect(mixed.every((r) => r.status === 200)).toBe(true);
    expect((await s.call(s.admin, '/v1/group/describe/para')).json.bundles).toEqual(names.slice(10));
  });
});

describe('who may call', () => {
  it('path policies decide for non-admins', async () => {
    await createGroup('other');
    expect((await s.call(operator, '/v1/group/describe/edge')).status).toBe(200);
    expect((await s.call(operator, '/v1/group/assign/edge/api.example.com', { method: 'PUT' })).status).toBe(200);
    const denied = await s.call(operator, '/v1/group/assign/other/api.example.com', { method: 'PUT' });
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({ message: 'not authorized: insufficient permissions' });
    expect((await s.call(operator, '/v1/group/create/mine', { method: 'PUT' })).status).toBe(403);
    // Allowed to assign in edge, but not to read www.example.com: assigning it would grant it.
    const granting = await s.call(operator, '/v1/group/assign/edge/www.example.com', { method: 'PUT' });
    expect(granting.status).toBe(403);
    expect(granting.json.message).toMatch(/requires the right to read it/);
    expect((await s.call(operator, '/v1/group/assign/edge/no-such.example.com', { method: 'PUT' })).status).toBe(403);
    expect((await s.call(stranger, '/v1/group/describe/edge')).status).toBe(403);
    expect((await s.call(null, '/v1/group/describe/edge')).json).toEqual({ message: 'tls: client certificate is required' });
  });

  it('refuses a group token on every route but registration and enrollment', async () => {
    const token = await createGroup('tok');
    await s.call(s.admin, '/v1/group/assign/tok/www.example.com', { method: 'PUT' });
    const api = await s.call(s.admin, '/v1/api');
    // Any certificate may describe itself (the token adds nothing there).
    // RKS's registration and renew-self take group tokens, as RKS does.
    const skip = new Set(['/v1/identity/self/describe', '/v1/node/register/', '/v1/node/enroll/', '/rks/v1/node', '/rks/v1/auth/token/renew-self']);
    const routes = (api.json as Array<{ method: string; path: string }>).filter((r) => !skip.has(r.path));
    expect(routes.length).toBeGreaterThan(20);
    const twoSegments = /^\/v1\/(group\/(assign|unassign)|node\/(revoke|ban|unban))\/$/;
    let checked = 0;
    for (const r of routes) {
      if (r.path.includes('{')) r.path = r.path.replace('{groupname}', 'tok').replace(/\{\w+\}/g, 'www.example.com');
      const path = r.path.endsWith('/')
        ? r.path + (twoSegments.test(r.path) ? 'tok/www.example.com' : r.path.startsWith('/v1/cert/') ? 'www.example.com' : 'tok')
        : r.path;
      const method = r.method === '*' ? 'GET' : r.method;
      // Public routes (/version, the API document and its assets) do not refuse the anonymous: skip them.
      if (![400, 403].includes((await s.call(null, path, { method })).status)) continue;
      checked++;
      for (const who of [null, stranger]) {
        for (const headers of [bearer(token), { 'X-Vault-Token': token }]) {
          const res = await s.call(who, path, { method, headers });
          expect([400, 403], `${r.method} ${path} → ${res.status} ${res.text}`).toContain(res.status);
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    // Nothing changed: the group still exists with its assignment, its token still registers.
    expect((await s.call(s.admin, '/v1/group/describe/tok')).json.bundles).toEqual(['www.example.com']);
    expect((await s.call(null, '/v1/node/register/tok', { method: 'PUT', body: { node_id: 'n' }, headers: bearer(token) })).status).toBe(200);
  });
});
