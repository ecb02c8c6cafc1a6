/**
 * The OpenAPI document (openapi/*.yaml) against the running server: the
 * document is well formed, every served route is documented with its method,
 * and real responses, success and error, validate against its schemas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import type { RequestOptions } from '../helpers/http.js';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import {
  compareWithRoutes,
  compileAllSchemas,
  expectMatchesSpec,
  expectResponseMatchesSpec,
  openAPI,
  resolveRef,
  validatedResponses,
  type RouteEntry,
} from '../helpers/openapi.js';
import { operations } from '../../src/api/docs/spec.js';
import { VERSION } from '../../src/version.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

let s: TestServer;
let app: TestClient;
let stranger: TestClient;
let routes: RouteEntry[];

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      app = pki.client({ commonName: 'app' });
      stranger = pki.client({ commonName: 'stranger' });
      return { policy: { app: { allow: ['/v1/key/generate/app-*', '/v1/status'], deny: ['/v1/key/*/app-secret'], identities: [app.identity] } } };
    },
  });
  const r = await s.call(s.admin, '/v1/api');
  expect(r.status).toBe(200);
  routes = r.json;
});
afterAll(() => s.close());

/** Calls the server and asserts the response is one the document describes. */
async function call(who: TestClient | null, path: string, opts: RequestOptions = {}) {
  const r = await s.call(who, path, opts);
  expectResponseMatchesSpec(opts.method ?? 'GET', path, r);
  return r;
}

describe('the document', () => {
  const doc = openAPI();

  it('is OpenAPI 3.1 carrying the running version, with unique operation ids, summaries and known tags', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe(VERSION);
    const tags = new Set((doc['tags'] as Array<{ name: string }>).map((t) => t.name));
    const grouped = (doc['x-tagGroups'] as Array<{ tags: string[] }>).flatMap((g) => g.tags);
    expect([...tags].sort()).toEqual([...grouped].sort());
    const ids = new Set<string>();
    for (const { path, method, op } of operations(doc)) {
      const where = `${method} ${path}`;
      expect(op.operationId, where).toMatch(/^[a-zA-Z][a-zA-Z0-9]*$/);
      expect(ids.has(op.operationId as string), `${where}: duplicate operationId`).toBe(false);
      ids.add(op.operationId as string);
      expect(op.summary, where).toBeTruthy();
      expect(op.tags?.length, where).toBe(1);
      expect(tags.has(op.tags?.[0] as string), `${where}: unknown tag`).toBe(true);
      expect(Object.keys(op.responses ?? {}).length, where).toBeGreaterThan(0);
    }
  });

  it('resolves every $ref', () => {
    const broken: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`));
      if (node === null || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && (typeof v !== 'string' || resolveRef({ $ref: v }) === undefined)) broken.push(`${at}: ${String(v)}`);
        else walk(v, `${at}/${k}`);
      }
    };
    walk(doc, '#');
    expect(broken).toEqual([]);
  });

  it('declares every path parameter of every operation, and no other', () => {
    for (const { path, method, op } of operations(doc)) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = [...((doc.paths[path]?.['parameters'] ?? []) as unknown[]), ...((op['parameters'] ?? []) as unknown[])]
        .map((p) => resolveRef<{ name: string; in: string; required?: boolean }>(p))
        .filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), `${method} ${path}`).toEqual(inPath);
      for (const p of declared) expect(p.required, `${method} ${path} ${p.name}`).toBe(true);
    }
  });

  it('compiles every request, response and parameter schema with ajv (JSON Schema 2020-12, strict mode)', () => {
    expect(compileAllSchemas()).toEqual([]);
  });

  it('uses only declared security schemes; clients authenticate by mutual TLS unless an operation says otherwise', () => {
    const schemes = doc.components['securitySchemes'] as Record<string, { type: string }>;
    expect(schemes['mutualTLS']?.type).toBe('mutualTLS');
    expect(doc.security).toEqual([{ mutualTLS: [] }]);
    for (const { path, method, op } of operations(doc)) {
      for (const alt of op.security ?? []) {
        for (const name of Object.keys(alt)) expect(schemes[name], `${method} ${path}: ${name}`).toBeDefined();
      }
    }
  });

  it('states once that PUT routes accept POST, and documents no POST twin of a PUT route', () => {
    expect(doc.info['description']).toMatch(/Every route declared PUT also accepts\s+POST/);
    for (const { path, method, op } of operations(doc)) {
      if (method === 'post' && !path.startsWith('/rks/') && !op['x-keygate-planned']) {
        expect(doc.paths[path]?.put, `POST ${path} duplicates a PUT`).toBeUndefined();
      }
    }
  });
});

describe('the route table (GET /v1/api) and the document', () => {
  it('has an operation, with the same method, for every route the server serves', () => {
    expect(routes.length).toBeGreaterThan(20);
    expect(compareWithRoutes(routes).undocumented).toEqual([]);
  });

  it('serves every documented operation not marked planned, and serves none marked planned', () => {
    const { unserved, plannedButServed } = compareWithRoutes(routes);
    expect(unserved).toEqual([]);
    expect(plannedButServed).toEqual([]);
  });

  it('notices a route missing from the document, or documented with another method', () => {
    const before = compareWithRoutes(routes).undocumented;
    const extra = [...routes, { method: 'GET', path: '/v1/frobnicate/' }, { method: 'DELETE', path: '/v1/key/create/' }];
    expect(compareWithRoutes(extra).undocumented).toEqual([...before, 'GET /v1/frobnicate/', 'DELETE /v1/key/create/']);
    const fewer = routes.filter((r) => r.path !== '/v1/key/hmac/');
    expect(compareWithRoutes(fewer).unserved).toEqual(['PUT /v1/key/hmac/{name}']);
  });
});

describe('KES responses match the document', () => {
  it('system routes', async () => {
    expect((await call(null, '/version')).status).toBe(200);
    expect((await call(s.admin, '/v1/status')).status).toBe(200);
    expect((await call(s.admin, '/v1/ready')).status).toBe(200);
    expect((await call(s.admin, '/v1/api')).status).toBe(200);
    const m = await call(s.admin, '/v1/metrics');
    expect(m.text).toContain('kes_http_request_success');
    const all = await call(s.admin, '/v1/metrics/keygate');
    expect(all.text).toContain('keygate_http_requests_total');
  });

  // Skipped with workers, a known difference: a log stream carries only the lines of the worker it is connected to (and the
  // error line is written through the in-process logger).
  it.skipIf(workerMode)('log streams, line by line', async () => {
    const audit = await firstLine('/v1/log/audit', () => s.call(s.admin, '/version'));
    expect(audit.status).toBe(200);
    expectResponseMatchesSpec('GET', '/v1/log/audit', audit);
    const error = await firstLine('/v1/log/error', async () => s.running.holder.current.logger.info('openapi test: a line'));
    expect(error.status).toBe(200);
    expectResponseMatchesSpec('GET', '/v1/log/error', error);
  });

  it('key lifecycle, with its errors', async () => {
    expect((await call(s.admin, '/v1/key/create/app-1', { method: 'PUT' })).status).toBe(200);
    expect((await call(s.admin, '/v1/key/create/app-2', { method: 'POST' })).status).toBe(200);
    expect((await call(s.admin, '/v1/key/create/app-1', { method: 'PUT' })).json).toEqual({ message: 'key already exists' });
    expect((await call(s.admin, '/v1/key/create/-bad', { method: 'PUT' })).status).toBe(400);
    expect((await call(s.admin, '/v1/key/import/app-imp', { method: 'PUT', body: { key: b64(Buffer.alloc(32, 7)), cipher: 'ChaCha20' } })).status).toBe(200);
    expect((await call(s.admin, '/v1/key/import/app-imp2', { method: 'PUT', body: { key: b64('short') } })).status).toBe(406);
    expect((await call(s.admin, '/v1/key/import/app-imp3', { method: 'PUT', raw: 'not json' })).status).toBe(400);
    expect((await call(s.admin, '/v1/key/describe/app-1')).status).toBe(200);
    expect((await call(s.admin, '/v1/key/describe/app-imp')).json.algorithm).toBe('ChaCha20');
    expect((await call(s.admin, '/v1/key/describe/missing')).status).toBe(404);
    expect((await call(s.admin, '/v1/key/list/app-*')).json.names).toEqual(['app-1', 'app-2', 'app-imp']);
    expect((await call(s.admin, '/v1/key/list/*?continue_at=app-2')).json.names).toEqual(['app-2', 'app-imp']);
    expect((await call(s.admin, '/v1/key/list')).status).toBe(200);
    expect((await call(s.admin, '/v1/key/list/-x*')).status).toBe(400);
  });

  it('cryptography, with its errors', async () => {
    const context = b64('bucket=photos');
    const g = await call(app, '/v1/key/generate/app-1', { method: 'PUT', body: { context } });
    expect(g.status).toBe(200);
    expect((await call(s.admin, '/v1/key/generate/app-1', { method: 'PUT' })).status).toBe(200);
    expect((await call(s.admin, '/v1/key/generate/nope', { method: 'PUT' })).status).toBe(404);
    const e = await call(s.admin, '/v1/key/encrypt/app-1', { method: 'PUT', body: { plaintext: b64('hello') } });
    expect(e.status).toBe(200);
    expect((await call(s.admin, '/v1/key/encrypt/app-1', { method: 'PUT', body: { plaintext: 'not base64!' } })).status).toBe(400);
    const d = await call(s.admin, '/v1/key/decrypt/app-1', { method: 'PUT', body: { ciphertext: e.json.ciphertext } });
    expect(d.json.plaintext).toBe(b64('hello'));
    expect((await call(s.admin, '/v1/key/decrypt/app-1', { method: 'PUT', body: { ciphertext: g.json.ciphertext } })).status).toBe(400);
    expect((await call(s.admin, '/v1/key/hmac/app-1', { method: 'PUT', body: { message: b64('m') } })).status).toBe(200);
    // Key versions (keygate's own): rotate, rewrap a version-1 ciphertext, retire version 1.
    expect((await call(s.admin, '/v1/key/rotate/app-1', { method: 'PUT' })).json.latest_version).toBe(2);
    const w = await call(s.admin, '/v1/key/rewrap/app-1', { method: 'PUT', body: { ciphertext: e.json.ciphertext } });
    expect(w.status).toBe(200);
    expect((await call(s.admin, '/v1/key/config/app-1', { method: 'PUT', body: { min_decryption_version: 2 } })).json.min_decryption_version).toBe(2);
    expect((await call(s.admin, '/v1/key/decrypt/app-1', { method: 'PUT', body: { ciphertext: w.json.ciphertext } })).json.plaintext).toBe(b64('hello'));
    expect((await call(s.admin, '/v1/key/config/app-1', { method: 'PUT', body: { min_decryption_version: 3 } })).status).toBe(400);
    expect((await call(s.admin, '/v1/key/delete/app-2', { method: 'DELETE' })).status).toBe(200);
    expect((await call(s.admin, '/v1/key/delete/app-2', { method: 'DELETE' })).status).toBe(404);
  });

  it('policies and identities', async () => {
    expect((await call(s.admin, '/v1/policy/describe/app')).status).toBe(200);
    expect((await call(s.admin, '/v1/policy/read/app')).json.allow).toEqual({ '/v1/key/generate/app-*': {}, '/v1/status': {} });
    expect((await call(s.admin, '/v1/policy/read/nope')).status).toBe(404);
    expect((await call(s.admin, '/v1/policy/describe/a.b')).status).toBe(400);
    expect((await call(s.admin, '/v1/policy/list/*')).json.names).toEqual(['app']);
    expect((await call(s.admin, `/v1/identity/describe/${app.identity}`)).json.policy).toBe('app');
    expect((await call(s.admin, `/v1/identity/describe/${s.admin.identity}`)).json.admin).toBe(true);
    expect((await call(s.admin, `/v1/identity/describe/${stranger.identity}`)).status).toBe(404);
    expect((await call(s.admin, '/v1/identity/list/*')).json.identities).toHaveLength(2);
    expect((await call(app, '/v1/identity/self/describe')).json.policy).toBe('app');
    expect((await call(s.admin, '/v1/identity/self/describe')).json.admin).toBe(true);
    expect((await call(stranger, '/v1/identity/self/describe')).status).toBe(404);
    expect((await call(null, '/v1/identity/self/describe')).status).toBe(400);
  });

  it('failures of the request pipeline', async () => {
    expect((await call(null, '/v1/status')).json).toEqual({ message: 'tls: client certificate is required' });
    expect((await call(stranger, '/v1/status')).status).toBe(403);
    expect((await call(app, '/v1/key/generate/app-secret', { method: 'PUT' })).status).toBe(403);
    const wrong = await call(s.admin, '/v1/key/create/x', { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('PUT');
    expect((await call(s.admin, '/v1/key/create/x', { method: 'PUT', body: { unexpected: true } })).status).toBe(413);
  });

  it('covered a success of every KES operation', () => {
    const skipped = workerMode ? ['get /v1/log/audit', 'get /v1/log/error'] : [];
    expect(missingSuccesses(['System', 'Keys', 'Policies', 'Identities']).filter((op) => !skipped.includes(op))).toEqual([]);
  });
});

describe('TLS-distribution responses match the document', () => {
  const certs = new BundleCerts();
  const www = certs.bundle({ dnsNames: ['www.example.com'], keyType: 'ecdsa-p256' });
  const importBody = (b: TestBundle, extra: Record<string, unknown> = {}) => ({ certificate: b.chainPem, private_key: b.keyPem, ttl: 600, ...extra });
  const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
  let groupToken = '';
  let nodeToken = '';

  it('certificate bundles', async () => {
    const created = await call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: importBody(www, { labels: { env: 'test' } }) });
    expect(created.status).toBe(200);
    expect((await call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: importBody(www) })).status).toBe(409);
    expect((await call(s.admin, '/v1/cert/import/bad.example.com', { method: 'PUT', body: importBody(www, { private_key: 'nope' }) })).status).toBe(400);
    expect((await call(s.admin, '/v1/cert/import/missing.example.com', { method: 'PUT', body: importBody(www, { version: 'v1' }) })).status).toBe(404);
    const replaced = await call(s.admin, '/v1/cert/import/www.example.com', {
      method: 'PUT',
      body: importBody(www, { version: created.json.version, ttl: 900 }),
    });
    expect(replaced.status).toBe(200);
    expect((await call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: importBody(www, { version: created.json.version }) })).status).toBe(
      409,
    );
    const d = await call(s.admin, '/v1/cert/describe/www.example.com');
    expect(d.json).toMatchObject({ name: 'www.example.com', key_type: 'ECDSA', key_size: 256, ttl: 900, labels: { env: 'test' } });
    expect((await call(s.admin, '/v1/cert/describe/nope.example.com')).status).toBe(404);
    expect((await call(s.admin, '/v1/cert/describe/a..b')).status).toBe(400);
    expect((await call(s.admin, '/v1/cert/get/www.example.com')).json.private_key).toBe(www.keyPem);
    expect((await call(stranger, '/v1/cert/get/www.example.com')).status).toBe(403);
    expect((await call(s.admin, '/v1/cert/watch/www.example.com?wait=0')).json.name).toBe('www.example.com');
    expect((await call(s.admin, '/v1/cert/list/*')).json.names).toEqual(['www.example.com']);
    expect((await call(s.admin, '/v1/cert/list/*?expiring_within_days=0')).json.names).toEqual([]);
    expect((await call(s.admin, '/v1/cert/list/*?expiring_within_days=soon')).status).toBe(400);
    expect((await call(s.admin, '/v1/cert/lookup/www.example.com')).json.bundles[0]).toMatchObject({ name: 'www.example.com', match: 'exact' });
    expect((await call(s.admin, '/v1/cert/lookup/other.example.org')).status).toBe(404);
    expect((await call(s.admin, '/v1/cert/lookup/a..b')).status).toBe(400);
  });

  it('groups', async () => {
    const created = await call(s.admin, '/v1/group/create/edge', { method: 'PUT', body: { token_ttl: 300 } });
    expect(created.status).toBe(200);
    groupToken = created.json.group_token;
    expect((await call(s.admin, '/v1/group/create/edge', { method: 'PUT' })).status).toBe(409);
    expect((await call(s.admin, '/v1/group/create/other', { method: 'PUT', body: { colour: 'red' } })).status).toBe(400);
    expect((await call(s.admin, '/v1/group/update/edge', { method: 'PUT', body: { oauth_client_secret: 'hush' } })).json.oauth_client_secret_set).toBe(true);
    expect((await call(s.admin, '/v1/group/update/nope', { method: 'PUT', body: {} })).status).toBe(404);
    expect((await call(s.admin, '/v1/group/describe/edge')).json).toMatchObject({ name: 'edge', token_ttl: 300, bundles: [] });
    expect((await call(s.admin, '/v1/group/describe/nope')).status).toBe(404);
    expect((await call(s.admin, '/v1/group/describe/a.b')).status).toBe(400);
    expect((await call(s.admin, '/v1/group/list/*')).json.names).toEqual(['edge']);
    expect((await call(s.admin, '/v1/group/assign/edge/www.example.com', { method: 'PUT' })).status).toBe(200);
    expect((await call(s.admin, '/v1/group/assign/edge/nope.example.com', { method: 'PUT' })).status).toBe(404);
    expect((await call(s.admin, '/v1/cert/describe/www.example.com')).json.groups).toEqual(['edge']);
    expect((await call(s.admin, '/v1/cert/delete/www.example.com', { method: 'DELETE' })).status).toBe(409);
  });

  it('nodes', async () => {
    const registered = await call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'edge-1' }, ...bearer(groupToken) });
    expect(registered.json.ttl).toBe(300);
    nodeToken = registered.json.node_token;
    expect((await call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'edge-1' } })).status).toBe(403);
    expect((await call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'has space' }, ...bearer(groupToken) })).status).toBe(400);
    expect((await call(null, '/v1/cert/get/www.example.com', bearer(nodeToken))).json.name).toBe('www.example.com');
    expect((await call(null, '/v1/cert/lookup/www.example.com', bearer(nodeToken))).status).toBe(200);
    expect((await call(null, '/v1/node/renew', { method: 'PUT', ...bearer(nodeToken) })).json.node_token).toBe(nodeToken);
    expect((await call(null, '/v1/node/renew', { method: 'PUT', ...bearer('not-a-token') })).status).toBe(403);
    expect((await call(null, '/v1/node/bundles', bearer(nodeToken))).status).toBe(200);
    expect((await call(null, '/v1/node/bundles', bearer(groupToken))).status).toBe(403);
    const enrolled = await call(app, '/v1/node/enroll/edge', { method: 'PUT', body: { node_id: 'edge-2' }, ...bearer(groupToken) });
    expect(enrolled.json).toEqual({ group: 'edge', node_id: 'edge-2', identity: app.identity });
    expect((await call(null, '/v1/node/enroll/edge', { method: 'PUT', ...bearer(groupToken) })).status).toBe(400);
    const nodes = await call(s.admin, '/v1/group/nodes/edge');
    expect(nodes.json.nodes.map((n: { node_id: string }) => n.node_id).sort()).toEqual(['edge-1', 'edge-2']);
    expect((await call(s.admin, '/v1/group/nodes/edge?continue_at=zz')).status).toBe(400);
    expect((await call(s.admin, '/v1/node/revoke/edge/edge-1', { method: 'DELETE' })).status).toBe(200);
    expect((await call(s.admin, '/v1/node/revoke/edge/edge-9', { method: 'DELETE' })).status).toBe(404);
    expect((await call(s.admin, '/v1/node/ban/edge/edge-1', { method: 'PUT' })).status).toBe(200);
    expect((await call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'edge-1' }, ...bearer(groupToken) })).status).toBe(403);
    expect((await call(s.admin, '/v1/node/unban/edge/edge-1', { method: 'DELETE' })).status).toBe(200);
    expect((await call(s.admin, '/v1/node/unban/edge/edge-1', { method: 'DELETE' })).status).toBe(404);
  });

  it('rotation, unassignment and deletion', async () => {
    expect((await call(s.admin, '/v1/group/rotate/edge', { method: 'PUT' })).json.group_token).not.toBe(groupToken);
    expect((await call(s.admin, '/v1/group/rotate/nope', { method: 'PUT' })).status).toBe(404);
    expect((await call(s.admin, '/v1/group/unassign/edge/www.example.com', { method: 'DELETE' })).status).toBe(200);
    expect((await call(s.admin, '/v1/group/delete/edge', { method: 'DELETE' })).status).toBe(200);
    expect((await call(s.admin, '/v1/group/delete/edge', { method: 'DELETE' })).status).toBe(404);
    expect((await call(s.admin, '/v1/cert/delete/www.example.com?force=maybe', { method: 'DELETE' })).status).toBe(400);
    expect((await call(s.admin, '/v1/cert/delete/www.example.com?force=true', { method: 'DELETE' })).status).toBe(200);
    expect((await call(s.admin, '/v1/cert/delete/www.example.com', { method: 'DELETE' })).status).toBe(404);
  });

  it('covered a success of every TLS-distribution operation', () => {
    expect(missingSuccesses(['Certificate bundles', 'Groups', 'Nodes'])).toEqual([]);
  });
});

// Last: its synthetic bodies must not count towards the coverage checks above.
describe('expectMatchesSpec', () => {
  const describeBody = { name: 'k', algorithm: 'AES256', created_at: '2025-01-02T03:04:05.678Z', created_by: '' };

  it('accepts a documented response', () => {
    expectMatchesSpec('GET', '/v1/key/describe/k', 200, describeBody);
    expectMatchesSpec('PUT', '/v1/key/create/k', 200, '');
    expectMatchesSpec('POST', '/v1/key/create/k', 200, undefined);
    expectMatchesSpec('GET', '/v1/key/list?continue_at=b', 200, { names: [] });
  });

  it('refuses unknown operations, undocumented statuses, wrong shapes and wrong bodies', () => {
    const fails = (...args: Parameters<typeof expectMatchesSpec>) => expect(() => expectMatchesSpec(...args), JSON.stringify(args)).toThrow();
    fails('GET', '/v1/nope', 200, {});
    fails('GET', '/v1/key/describe/k', 418, { message: 'teapot' });
    fails('GET', '/v1/key/describe/k', 200, { ...describeBody, extra: 1 });
    fails('GET', '/v1/key/describe/k', 200, { ...describeBody, created_at: 'yesterday' });
    fails('GET', '/v1/key/describe/k', 200, { name: 'k' });
    fails('GET', '/v1/key/describe/k', 404, { error: 'key does not exist' });
    fails('PUT', '/v1/key/create/k', 200, {});
    fails('GET', '/v1/key/describe/k', 200, '');
    fails('GET', '/v1/key/describe/k', 200, describeBody, 'text/plain');
    fails('GET', '/v1/log/audit', 200, '{"time":"2025-01-02T03:04:05.678Z"}\n', 'application/x-ndjson');
    // keygate's flat audit line is not what the stream promises (KES's nested event).
    fails(
      'GET',
      '/v1/log/audit',
      200,
      '{"time":"2025-01-02T03:04:05.678Z","ip":"::1","identity":"","method":"GET","path":"/version","status":200,"latency_ms":1}\n',
      'application/x-ndjson',
    );
  });
});

/** Operations of these tags of which no test in this file validated a 2xx response. */
function missingSuccesses(tags: string[]): string[] {
  return operations(openAPI())
    .filter(({ op }) => tags.includes(op.tags?.[0] as string))
    .filter(({ path, method }) => ![...validatedResponses()].some((v) => v.startsWith(`${method} ${path} 2`)))
    .map(({ path, method }) => `${method} ${path}`);
}

/** Opens a log stream, triggers a line, and returns the first one with the response's status and headers. */
function firstLine(
  path: string,
  trigger: () => Promise<unknown>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; json: undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, s.url), { ca: s.pki.ca.certPem, cert: s.admin.certPem, key: s.admin.keyPem, agent: false }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: buf.slice(0, nl + 1), json: undefined });
        req.destroy();
      });
      trigger().catch(reject);
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}
