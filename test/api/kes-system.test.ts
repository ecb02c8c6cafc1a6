/** Status, readiness, the route table, and the read-only policy/identity API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';

let s: TestServer;
let minio: TestClient;
let viewer: TestClient;

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      minio = pki.client({ commonName: 'minio' });
      viewer = pki.client({ commonName: 'viewer' });
      return {
        policy: {
          minio: { allow: ['/v1/key/**', '/v1/status'], deny: ['/v1/key/delete/*'], identities: [minio.identity] },
          viewer: { allow: ['/v1/policy/*/*', '/v1/identity/*/*', '/v1/api'], identities: [viewer.identity] },
        },
      };
    },
  });
});
afterAll(() => s.close());

describe('system endpoints', () => {
  it('reports status with KES fields', async () => {
    const r = await s.call(s.admin, '/v1/status');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ os: process.platform, arch: process.arch, keystore_unreachable: false });
    expect(r.json.keystore_latency).toBeGreaterThanOrEqual(1);
    for (const k of ['version', 'uptime', 'num_cpu', 'num_cpu_used', 'mem_heap_used', 'mem_stack_used']) expect(r.json).toHaveProperty(k);
  });

  it('is ready while the keystore answers', async () => {
    const r = await s.call(s.admin, '/v1/ready');
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
  });

  it('lists every route with its method, body limit and timeout', async () => {
    const r = await s.call(viewer, '/v1/api');
    expect(r.status).toBe(200);
    const byPath = new Map(r.json.map((e: { path: string }) => [e.path, e]));
    expect(byPath.get('/v1/key/encrypt/')).toEqual({ method: 'PUT', path: '/v1/key/encrypt/', max_body: 1 << 20, timeout: 15 });
    expect(byPath.get('/v1/key/create/')).toMatchObject({ method: 'PUT', max_body: 0 });
    expect(byPath.get('/version')).toMatchObject({ method: 'GET', timeout: 10 });
    for (const p of ['/v1/status', '/v1/ready', '/v1/policy/read/', '/v1/identity/self/describe', '/v1/key/hmac/']) {
      expect(byPath.has(p), p).toBe(true);
    }
  });
});

describe('policy API', () => {
  it('describes, reads and lists policies', async () => {
    const d = await s.call(viewer, '/v1/policy/describe/minio');
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ name: 'minio', created_by: s.admin.identity });
    const r = await s.call(viewer, '/v1/policy/read/minio');
    expect(r.json.allow).toEqual({ '/v1/key/**': {}, '/v1/status': {} });
    expect(r.json.deny).toEqual({ '/v1/key/delete/*': {} });
    const l = await s.call(viewer, '/v1/policy/list/*');
    expect(l.json).toEqual({ names: ['minio', 'viewer'], continue_at: '' });
    const m = await s.call(viewer, '/v1/policy/list/mi*');
    expect(m.json.names).toEqual(['minio']);
    const missing = await s.call(viewer, '/v1/policy/read/nope');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ message: 'policy does not exist' });
  });
});

describe('identity API', () => {
  it('describes and lists identities, admin included', async () => {
    const d = await s.call(viewer, `/v1/identity/describe/${minio.identity}`);
    expect(d.json).toMatchObject({ policy: 'minio' });
    const a = await s.call(viewer, `/v1/identity/describe/${s.admin.identity}`);
    expect(a.json).toMatchObject({ admin: true });
    const l = await s.call(viewer, '/v1/identity/list/*');
    expect(l.json.identities).toEqual([s.admin.identity, minio.identity, viewer.identity].sort());
    const missing = await s.call(viewer, `/v1/identity/describe/${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ message: 'identity does not exist' });
  });

  it('lets a non-admin identity describe itself (a KES bug, fixed)', async () => {
    const r = await s.call(minio, '/v1/identity/self/describe');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ identity: minio.identity, policy: 'minio' });
    expect(r.json.allow).toEqual({ '/v1/key/**': {}, '/v1/status': {} });
    const admin = await s.call(s.admin, '/v1/identity/self/describe');
    expect(admin.json).toMatchObject({ identity: s.admin.identity, admin: true });
  });

  it('applies deny over allow, with ** crossing segments', async () => {
    expect((await s.call(minio, '/v1/key/create/m1', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(minio, '/v1/key/generate/m1', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(minio, '/v1/key/delete/m1', { method: 'DELETE' })).status).toBe(403);
    expect((await s.call(minio, '/v1/policy/list/*')).status).toBe(403);
  });
});
