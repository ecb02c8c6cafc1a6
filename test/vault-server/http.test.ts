// §1 of vault-api.md: URL space, verbs, envelope, headers, error bodies, check order.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { ACL_DENIED, Client, tokenWith } from './testkit.js';

let vault: VaultTestServer;
let root: Client;
let anon: Client;

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root' });
  root = new Client(vault.url, 'root');
  anon = new Client(vault.url);
  await root.post('/v1/sys/mounts/kv1', { type: 'kv' });
});
afterAll(() => vault.close());

describe('envelope and headers (checklist 13)', () => {
  it('writes the envelope fields in Go struct order with a trailing newline', async () => {
    await root.post('/v1/secret/data/env', { data: { b: 2, a: 1 } });
    const r = await root.get('/v1/secret/data/env');
    expect(r.status).toBe(200);
    expect(r.text.endsWith('}\n')).toBe(true);
    expect(Object.keys(r.json)).toEqual(['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth', 'mount_type']);
    expect(r.json.request_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.json).toMatchObject({ lease_id: '', renewable: false, lease_duration: 0, wrap_info: null, warnings: null, auth: null, mount_type: 'kv' });
    // Map keys inside data are sorted, as Go's encoder emits them.
    expect(r.text).toContain('"data":{"a":1,"b":2}');
  });

  it('sets Content-Type and Cache-Control on every response, errors included', async () => {
    for (const r of [await root.get('/v1/secret/data/env'), await anon.get('/v1/secret/data/env'), await root.get('/v1/sys/health'), await root.get('/nope')]) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['cache-control']).toBe('no-store');
    }
  });

  it('echoes X-Vault-Namespace only when it was sent', async () => {
    expect((await root.get('/v1/sys/mounts', { ns: '/' })).headers['x-vault-namespace']).toBe('/');
    expect((await root.get('/v1/sys/mounts')).headers['x-vault-namespace']).toBeUndefined();
  });

  it('escapes <, > and & like Go does', async () => {
    await root.post('/v1/secret/data/html', { data: { v: '<a&b>' } });
    const r = await root.get('/v1/secret/data/html');
    expect(r.text).toContain('"v":"\\u003ca\\u0026b\\u003e"');
  });

  it('copies data to the top level for legacy sys endpoints but not for sys/policies/acl', async () => {
    const mounts = await root.get('/v1/sys/mounts');
    expect(Object.keys(mounts.json)[0]).toBe('cubbyhole/');
    expect(mounts.json['secret/']).toEqual(mounts.json.data['secret/']);
    expect(Object.keys(mounts.json).indexOf('request_id')).toBeGreaterThan(Object.keys(mounts.json).indexOf('sys/'));
    const pol = await root.get('/v1/sys/policies/acl/default');
    expect(pol.json.name).toBeUndefined();
    expect(pol.json.data.name).toBe('default');
  });
});

describe('status codes and bodies (checklist 1, 4)', () => {
  it('answers 204 with an empty body (still JSON content type) for bodiless writes and deletes', async () => {
    const w = await root.post('/v1/kv1/a', { x: 'y' });
    expect(w.status).toBe(204);
    expect(w.text).toBe('');
    expect(w.headers['content-type']).toBe('application/json');
    const d = await root.del('/v1/kv1/a');
    expect(d.status).toBe(204);
    expect(d.text).toBe('');
  });

  it('answers 200 for KV v2 data writes and token creation', async () => {
    expect((await root.post('/v1/secret/data/w', { data: { a: 1 } })).status).toBe(200);
    expect((await root.post('/v1/auth/token/create', {})).status).toBe(200);
  });

  it('uses {"errors":[]} for a missing secret and an unknown verb', async () => {
    const missing = await root.get('/v1/kv1/missing');
    expect(missing.status).toBe(404);
    expect(missing.text).toBe('{"errors":[]}\n');
    const verb = await root.request('OPTIONS', '/v1/kv1/a');
    expect(verb.status).toBe(405);
    expect(verb.text).toBe('{"errors":[]}\n');
    expect((await root.request('COPY', '/v1/kv1/a')).text).toBe('{"errors":[]}\n');
  });

  it('answers 404 {"errors":[]} outside /v1/', async () => {
    const r = await root.get('/v2/secret');
    expect(r.status).toBe(404);
    expect(r.text).toBe('{"errors":[]}\n');
  });

  it('rejects malformed JSON and non-object bodies', async () => {
    for (const raw of ['{"a":', '[1,2]', '42']) {
      const r = await root.request('POST', '/v1/kv1/a', { raw });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ errors: ['error parsing JSON'] });
    }
  });

  it('accepts form-encoded bodies', async () => {
    const r = await root.request('POST', '/v1/kv1/form', { raw: 'a=1&b=two', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(204);
    expect((await root.get('/v1/kv1/form')).json.data).toEqual({ a: '1', b: 'two' });
  });

  it('requires the merge-patch content type for PATCH', async () => {
    const r = await root.request('PATCH', '/v1/secret/data/w', { body: { data: {} }, headers: { 'Content-Type': 'application/json' } });
    expect(r.status).toBe(415);
    expect(r.json).toEqual({ errors: ['PATCH requires Content-Type of application/merge-patch+json, provided application/json'] });
  });

  it('takes large bodies below the limit', async () => {
    const big = 'x'.repeat(8 * 1024 * 1024);
    expect((await root.put('/v1/kv1/large', { v: big })).status).toBe(204);
    expect((await root.get('/v1/kv1/large')).json.data.v).toHaveLength(big.length);
  });

  it('refuses bodies above 32 MiB with 413', async () => {
    const r = await root.request('POST', '/v1/kv1/big', { raw: JSON.stringify({ v: 'x'.repeat(32 * 1024 * 1024) }) });
    expect(r.status).toBe(413);
  });
});

describe('LIST verb (checklist 5)', () => {
  it('treats LIST and GET ?list=true alike and appends the trailing slash', async () => {
    await root.post('/v1/kv1/dir/one', { a: 1 });
    const a = await root.list('/v1/kv1/dir');
    const b = await root.get('/v1/kv1/dir?list=true');
    const c = await root.get('/v1/kv1/dir/?list=1');
    expect(a.status).toBe(200);
    expect(a.json.data).toEqual({ keys: ['one'] });
    expect(b.json.data).toEqual(a.json.data);
    expect(c.json.data).toEqual(a.json.data);
  });

  it('answers 404 {"errors":[]} for an empty listing', async () => {
    const r = await root.list('/v1/kv1/empty');
    expect(r.status).toBe(404);
    expect(r.text).toBe('{"errors":[]}\n');
  });

  it('rejects an unparsable list= value and treats list=false as a read', async () => {
    const r = await root.get('/v1/kv1/dir?list=maybe');
    expect(r.status).toBe(400);
    expect(r.text).toBe('{"errors":[]}\n');
    expect((await root.get('/v1/kv1/dir/one?list=false')).json.data).toEqual({ a: 1 });
  });
});

describe('tokens in headers and check order (checklist 2, 3)', () => {
  it('accepts Authorization: Bearer and prefers X-Vault-Token when both are sent', async () => {
    expect((await anon.get('/v1/auth/token/lookup-self', { headers: { Authorization: 'Bearer root' } })).status).toBe(200);
    const both = await anon.get('/v1/auth/token/lookup-self', { headers: { Authorization: 'Bearer root', 'X-Vault-Token': 'bogus' } });
    expect(both.status).toBe(403);
  });

  it('ignores X-Vault-Request', async () => {
    expect((await root.get('/v1/kv1/dir/one', { headers: { 'X-Vault-Request': 'true' } })).status).toBe(200);
  });

  it('gives the plain 403 for a missing or unknown token and the multierror 403 for an ACL denial', async () => {
    const none = await anon.get('/v1/kv1/dir/one');
    expect(none.status).toBe(403);
    expect(none.text).toBe('{"errors":["permission denied"]}\n');
    expect((await anon.get('/v1/kv1/dir/one', { token: 'hvs.nope' })).json).toEqual({ errors: ['permission denied'] });
    const weak = await tokenWith(root, { nothing: 'path "other/*" { capabilities = ["read"] }' });
    const denied = await anon.get('/v1/kv1/dir/one', { token: weak });
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({ errors: [ACL_DENIED] });
    expect(denied.text).toBe('{"errors":["1 error occurred:\\n\\t* permission denied\\n\\n"]}\n');
  });

  it('checks token and ACL before routing: unknown mount is 403 for non-root, 404 for root', async () => {
    const weak = await tokenWith(root, { nothing2: 'path "other/*" { capabilities = ["read"] }' });
    expect((await anon.get('/v1/nomount/x', { token: weak })).json).toEqual({ errors: [ACL_DENIED] });
    expect((await anon.get('/v1/nomount/x')).json).toEqual({ errors: ['permission denied'] });
    const r = await root.get('/v1/nomount/x');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ errors: ['no handler for route "nomount/x". route entry not found.'] });
  });

  it('refuses writes to a path ending in / before checking the token', async () => {
    for (const c of [anon, root]) {
      const r = await c.post('/v1/kv1/dir/', { a: 1 });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ errors: ["cannot write to a path ending in '/'"] });
    }
  });

  it('renders framework routing errors as multierrors', async () => {
    const path = await root.get('/v1/sys/definitely-not-a-path');
    expect(path.status).toBe(404);
    expect(path.json).toEqual({ errors: ['1 error occurred:\n\t* unsupported path\n\n'] });
    const op = await root.del('/v1/secret/config');
    expect(op.status).toBe(405);
    expect(op.json).toEqual({ errors: ['1 error occurred:\n\t* unsupported operation\n\n'] });
  });

  it('retries a bare top-level path as the mount root', async () => {
    const r = await root.post('/v1/kv1', { a: 1 });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ errors: ['missing path'] });
  });
});

describe('sealed server (checklist 14)', () => {
  it('answers 503 Vault is sealed for any logical request, token or not', async () => {
    vault.seal();
    try {
      for (const c of [root, anon]) {
        const r = await c.get('/v1/secret/data/env');
        expect(r.status).toBe(503);
        expect(r.text).toBe('{"errors":["Vault is sealed"]}\n');
      }
      expect((await anon.get('/v1/sys/seal-status')).json.sealed).toBe(true);
    } finally {
      vault.unseal();
    }
    expect((await root.get('/v1/secret/data/env')).status).toBe(200);
  });
});

describe("HTTP/1.1 transport (Node's own parser rejects LIST, so the server has its own)", () => {
  it('keeps connections alive across requests, LIST included', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    try {
      for (const method of ['GET', 'LIST', 'GET']) {
        const { status, port } = await new Promise<{ status: number; port: number }>((resolve, reject) => {
          const req = http.request(`${vault.url}/v1/kv1/dir/`, { method, agent, headers: { 'X-Vault-Token': 'root' } }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, port: req.socket?.localPort ?? 0 }));
          });
          req.on('error', reject);
          req.end();
        });
        expect(status).toBe(method === 'LIST' ? 200 : 404);
        ports.add(port);
      }
      expect(ports.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('accepts chunked request bodies', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${vault.url}/v1/kv1/chunked`,
        { method: 'PUT', headers: { 'X-Vault-Token': 'root', 'Transfer-Encoding': 'chunked' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('{"a":');
      req.write('"chunked"}');
      req.end();
    });
    expect(status).toBe(204);
    expect((await root.get('/v1/kv1/chunked')).json.data).toEqual({ a: 'chunked' });
  });

  it('answers pipelined requests in order on one socket', async () => {
    const { port } = new URL(vault.url);
    const text = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), '127.0.0.1');
      let out = '';
      sock.on('data', (d) => (out += d.toString()));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
      sock.write(
        'LIST /v1/kv1/dir HTTP/1.1\r\nHost: x\r\nX-Vault-Token: root\r\n\r\n' +
          'PUT /v1/kv1/pipe HTTP/1.1\r\nHost: x\r\nX-Vault-Token: root\r\nContent-Length: 7\r\n\r\n{"a":1}' +
          'GET /v1/kv1/pipe HTTP/1.1\r\nHost: x\r\nX-Vault-Token: root\r\nConnection: close\r\n\r\n',
      );
    });
    const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d+) /gm)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 204, 200]);
    expect(text).toContain('"data":{"a":1}');
  });
});
