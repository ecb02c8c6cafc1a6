/** The KES key API end to end: real TLS listener, real client certificates. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
const vectors = JSON.parse(readFileSync(new URL('../vectors/kes/ciphertexts.json', import.meta.url), 'utf8'));

let s: TestServer;
let app: TestClient;
let stranger: TestClient;
let rewrapper: TestClient;

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      app = pki.client({ commonName: 'app' });
      stranger = pki.client({ commonName: 'stranger' });
      rewrapper = pki.client({ commonName: 'rewrapper' });
      return {
        policy: {
          rewrapper: { allow: ['/v1/key/rewrap/app-*', '/v1/key/describe/app-*'], deny: [], identities: [rewrapper.identity] },
          app: {
            allow: ['/v1/key/generate/app-*', '/v1/key/decrypt/app-*', '/v1/key/list/*'],
            deny: ['/v1/key/*/app-secret'],
            identities: [app.identity],
          },
        },
      };
    },
  });
});
afterAll(() => s.close());

describe('key lifecycle', () => {
  it('creates, describes, refuses a duplicate, deletes', async () => {
    const created = await s.call(s.admin, '/v1/key/create/app-1', { method: 'PUT' });
    expect(created.status).toBe(200);
    expect(created.text).toBe('');

    const d = await s.call(s.admin, '/v1/key/describe/app-1');
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ name: 'app-1', algorithm: 'AES256', created_by: s.admin.identity });
    expect(Date.parse(d.json.created_at)).toBeGreaterThan(Date.now() - 60_000);

    const again = await s.call(s.admin, '/v1/key/create/app-1', { method: 'PUT' });
    expect(again.status).toBe(400);
    expect(again.json).toEqual({ message: 'key already exists' });

    expect((await s.call(s.admin, '/v1/key/delete/app-1', { method: 'DELETE' })).status).toBe(200);
    const gone = await s.call(s.admin, '/v1/key/describe/app-1');
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ message: 'key does not exist' });
    expect((await s.call(s.admin, '/v1/key/delete/app-1', { method: 'DELETE' })).status).toBe(404);
  });

  it('accepts POST where PUT is expected, and answers 405 with the expected method otherwise', async () => {
    expect((await s.call(s.admin, '/v1/key/create/post-key', { method: 'POST' })).status).toBe(200);
    const wrong = await s.call(s.admin, '/v1/key/create/other', { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('PUT');
    expect(wrong.json).toEqual({ message: "received method 'GET' expected 'PUT'" });
  });

  it('rejects invalid names with 400 and stores nothing', async () => {
    for (const bad of ['a.b', '-x', 'x-', '_', 'a'.repeat(81), '..x', 'k%00', 'a%2Fb', 'ключ']) {
      const r = await s.call(s.admin, `/v1/key/create/${bad}`, { method: 'PUT' });
      expect(r.status, bad).toBe(400);
      expect(r.json.message).toMatch(/^key name '.*' is empty, too long or contains invalid characters$/);
    }
    const list = await s.call(s.admin, '/v1/key/list/*');
    expect(list.json.names).not.toContain('a.b');
  });

  it('answers unknown routes with 404 JSON', async () => {
    const r = await s.call(s.admin, '/v1/nope');
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json).toEqual({ message: 'not found' });
    expect((await s.call(s.admin, '/v1/key//create/x', { method: 'PUT' })).status).toBe(404);
  });
});

describe('cryptography', () => {
  beforeAll(async () => {
    expect((await s.call(s.admin, '/v1/key/create/app-crypto', { method: 'PUT' })).status).toBe(200);
  });

  it('generates a 256-bit data key that decrypts back, bound to its context', async () => {
    const context = b64('{"bucket":"photos"}');
    const g = await s.call(s.admin, '/v1/key/generate/app-crypto', { method: 'PUT', body: { context } });
    expect(g.status).toBe(200);
    const plaintext = Buffer.from(g.json.plaintext, 'base64');
    const ciphertext = Buffer.from(g.json.ciphertext, 'base64');
    expect(plaintext).toHaveLength(32);
    expect(ciphertext).toHaveLength(76);

    const d = await s.call(s.admin, '/v1/key/decrypt/app-crypto', { method: 'PUT', body: { ciphertext: g.json.ciphertext, context } });
    expect(d.status).toBe(200);
    expect(Buffer.from(d.json.plaintext, 'base64').equals(plaintext)).toBe(true);

    const wrongContext = await s.call(s.admin, '/v1/key/decrypt/app-crypto', { method: 'PUT', body: { ciphertext: g.json.ciphertext, context: b64('other') } });
    expect(wrongContext.status).toBe(400);
    expect(wrongContext.json).toEqual({ message: 'decryption failed: ciphertext is not authentic' });
  });

  it('generates without a body, and two data keys differ', async () => {
    const a = await s.call(s.admin, '/v1/key/generate/app-crypto', { method: 'PUT' });
    const b = await s.call(s.admin, '/v1/key/generate/app-crypto', { method: 'PUT' });
    expect(a.status).toBe(200);
    expect(a.json.plaintext).not.toBe(b.json.plaintext);
  });

  it('encrypts and decrypts arbitrary data, and computes a stable HMAC', async () => {
    const plaintext = b64(Buffer.from([0, 1, 2, 255, 254]));
    const e = await s.call(s.admin, '/v1/key/encrypt/app-crypto', { method: 'PUT', body: { plaintext } });
    expect(e.status).toBe(200);
    expect(Buffer.from(e.json.ciphertext, 'base64')).toHaveLength(5 + 44);
    const d = await s.call(s.admin, '/v1/key/decrypt/app-crypto', { method: 'PUT', body: { ciphertext: e.json.ciphertext } });
    expect(d.json.plaintext).toBe(plaintext);

    const h1 = await s.call(s.admin, '/v1/key/hmac/app-crypto', { method: 'PUT', body: { message: b64('hello') } });
    const h2 = await s.call(s.admin, '/v1/key/hmac/app-crypto', { method: 'PUT', body: { message: b64('hello') } });
    expect(h1.status).toBe(200);
    expect(Buffer.from(h1.json.hmac, 'base64')).toHaveLength(32);
    expect(h1.json.hmac).toBe(h2.json.hmac);
  });

  it('imports keys of both ciphers and decrypts KES ciphertexts made with them', async () => {
    const raw = vectors.decrypt.filter((v: { envelope: string; expect: string }) => v.expect === 'plaintext');
    expect(raw.length).toBeGreaterThan(5);
    for (const [i, v] of raw.entries()) {
      const name = `vector-${i}`;
      const imp = await s.call(s.admin, `/v1/key/import/${name}`, { method: 'PUT', body: { key: v.master_key, cipher: v.algorithm } });
      expect(imp.status, v.id).toBe(200);
      const body: Record<string, string> = { ciphertext: v.ciphertext };
      if (v.context !== null) body['context'] = v.context;
      const d = await s.call(s.admin, `/v1/key/decrypt/${name}`, { method: 'PUT', body });
      expect(d.status, v.id).toBe(200);
      expect(d.json.plaintext, v.id).toBe(v.plaintext);
    }
  });

  it('refuses bad imports and bad bodies with a clear error', async () => {
    const short = await s.call(s.admin, '/v1/key/import/imp-short', { method: 'PUT', body: { key: b64(Buffer.alloc(16)), cipher: 'AES256' } });
    expect(short.status).toBe(406);
    for (const name of ['DES', 'constructor', '__proto__', 'toString']) {
      const cipher = await s.call(s.admin, '/v1/key/import/imp-cipher', { method: 'PUT', body: { key: b64(Buffer.alloc(32)), cipher: name } });
      expect(cipher.status, name).toBe(406);
    }
    const notB64 = await s.call(s.admin, '/v1/key/encrypt/app-crypto', { method: 'PUT', body: { plaintext: '***' } });
    expect(notB64.status).toBe(400);
    expect(notB64.json).toEqual({ message: 'invalid request body' });
    const notJson = await s.call(s.admin, '/v1/key/encrypt/app-crypto', { method: 'PUT', raw: '{"plaintext":' });
    expect(notJson.status).toBe(400);
    const array = await s.call(s.admin, '/v1/key/encrypt/app-crypto', { method: 'PUT', raw: '[1,2]' });
    expect(array.status).toBe(400);
    for (const name of ['imp-short', 'imp-cipher']) {
      expect((await s.call(s.admin, `/v1/key/describe/${name}`)).status).toBe(404);
    }
  });

  it('enforces body limits: 1 MiB on crypto routes, none where no body is expected', async () => {
    const big = await s.call(s.admin, '/v1/key/encrypt/app-crypto', { method: 'PUT', raw: Buffer.alloc((1 << 20) + 1, 'a') });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ message: 'request body too large' });
    const unexpected = await s.call(s.admin, '/v1/key/create/with-body', { method: 'PUT', raw: 'x' });
    expect(unexpected.status).toBe(413);
    expect((await s.call(s.admin, '/v1/key/describe/with-body')).status).toBe(404);
  });
});

describe('listing', () => {
  // In-process only: creates 1100 keys through the service, not over HTTP.
  it.skipIf(workerMode)('pages past 1024 names with continue_at and strips a trailing * like the other list endpoints', async () => {
    const keys = s.running.holder.current.keys;
    const names = Array.from({ length: 1100 }, (_, i) => `page-${String(i).padStart(4, '0')}`);
    await Promise.all(names.map((n) => keys.create(n, 'test')));
    const seen: string[] = [];
    let cursor = '';
    let pages = 0;
    do {
      const r = await s.call(s.admin, `/v1/key/list/page-*${cursor ? `?continue_at=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...r.json.names);
      cursor = r.json.continue_at ?? '';
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(names);

    const star = await s.call(s.admin, '/v1/key/list/page-000*');
    const plain = await s.call(s.admin, '/v1/key/list/page-000');
    expect(star.json.names).toEqual(plain.json.names);
    expect(star.json.names).toHaveLength(10);
    const bad = await s.call(s.admin, '/v1/key/list/a*b');
    expect(bad.status).toBe(400);
  });

  it('serves /v1/key/list without a trailing slash as the full listing', async () => {
    const r = await s.call(s.admin, '/v1/key/list');
    expect(r.status).toBe(200);
    expect(r.json.names.length).toBeGreaterThan(0);
  });
});

describe('authentication and policies', () => {
  it('answers 400 JSON without a client certificate and 403 for unknown identities', async () => {
    const none = await s.call(null, '/v1/key/list/*');
    expect(none.status).toBe(400);
    expect(none.json).toEqual({ message: 'tls: client certificate is required' });
    const unknown = await s.call(stranger, '/v1/key/list/*');
    expect(unknown.status).toBe(403);
    expect(unknown.json).toEqual({ message: 'not authorized: insufficient permissions' });
  });

  it('lets an identity do what its policy allows, and nothing else', async () => {
    await s.call(s.admin, '/v1/key/create/app-x', { method: 'PUT' });
    await s.call(s.admin, '/v1/key/create/app-secret', { method: 'PUT' });
    const g = await s.call(app, '/v1/key/generate/app-x', { method: 'PUT' });
    expect(g.status).toBe(200);
    const d = await s.call(app, '/v1/key/decrypt/app-x', { method: 'PUT', body: { ciphertext: g.json.ciphertext } });
    expect(d.json.plaintext).toBe(g.json.plaintext);

    const denied = [
      ['/v1/key/create/app-y', 'PUT'],
      ['/v1/key/delete/app-x', 'DELETE'],
      ['/v1/key/generate/app-secret', 'PUT'],
      ['/v1/key/generate/other', 'PUT'],
      ['/v1/status', 'GET'],
    ] as const;
    for (const [path, method] of denied) {
      const r = await s.call(app, path, { method });
      expect(r.status, path).toBe(403);
    }
    expect((await s.call(s.admin, '/v1/key/describe/app-y')).status).toBe(404);
  });

  it('needs no certificate for /version', async () => {
    const r = await s.call(null, '/version');
    expect(r.status).toBe(200);
    expect(r.json.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('key versions', () => {
  const RETIRED = { message: 'decryption failed: key version is retired (below min_decryption_version)' };
  const put = (who: TestClient, path: string, body?: unknown) => s.call(who, path, body === undefined ? { method: 'PUT' } : { method: 'PUT', body });
  /** Calls and checks the answer against the OpenAPI document. */
  const checked = async (who: TestClient, method: 'GET' | 'PUT', path: string, body?: unknown) => {
    const r = method === 'GET' ? await s.call(who, path) : await put(who, path, body);
    expectResponseMatchesSpec(method, path, r);
    return r;
  };

  it('a key never rotated describes one version', async () => {
    expect((await put(s.admin, '/v1/key/create/app-v0')).status).toBe(200);
    const d = await checked(s.admin, 'GET', '/v1/key/describe/app-v0');
    expect(d.json).toMatchObject({ latest_version: 1, min_decryption_version: 1, versions: [{ version: 1, created_by: s.admin.identity }] });
    expect(d.json.versions[0].created_at).toBe(d.json.created_at);
  });

  it('rotates, encrypts with the latest version, decrypts every version, rewraps, and retires old versions', async () => {
    expect((await put(s.admin, '/v1/key/create/app-rot')).status).toBe(200);
    const context = b64('bucket=photos');
    const v1 = await put(s.admin, '/v1/key/generate/app-rot', { context });
    expect(Buffer.from(v1.json.ciphertext, 'base64')).toHaveLength(76); // KES's raw envelope

    const r = await checked(s.admin, 'PUT', '/v1/key/rotate/app-rot');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'app-rot', latest_version: 2, min_decryption_version: 1, created_by: s.admin.identity });
    expect(r.json.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    expect(Date.parse(r.json.versions[1].created_at)).toBeGreaterThanOrEqual(Date.parse(r.json.versions[0].created_at));

    const v2 = await put(s.admin, '/v1/key/generate/app-rot', { context });
    expect(Buffer.from(v2.json.ciphertext, 'base64')).toHaveLength(76 + 8); // plus the version tag
    for (const g of [v1, v2]) {
      const d = await put(s.admin, '/v1/key/decrypt/app-rot', { ciphertext: g.json.ciphertext, context });
      expect(d.json.plaintext).toBe(g.json.plaintext);
    }

    const rewrapped = await checked(s.admin, 'PUT', '/v1/key/rewrap/app-rot', { ciphertext: v1.json.ciphertext, context });
    expect(rewrapped.status).toBe(200);
    expect(Object.keys(rewrapped.json)).toEqual(['ciphertext']);
    expect(Buffer.from(rewrapped.json.ciphertext, 'base64')).toHaveLength(76 + 8);
    const wrongContext = await checked(s.admin, 'PUT', '/v1/key/rewrap/app-rot', { ciphertext: v1.json.ciphertext, context: b64('other') });
    expect(wrongContext.status).toBe(400);
    expect(wrongContext.json).toEqual({ message: 'decryption failed: ciphertext is not authentic' });

    const retire = await checked(s.admin, 'PUT', '/v1/key/config/app-rot', { min_decryption_version: 2 });
    expect(retire.status).toBe(200);
    expect(retire.json).toMatchObject({ latest_version: 2, min_decryption_version: 2 });
    const old = await checked(s.admin, 'PUT', '/v1/key/decrypt/app-rot', { ciphertext: v1.json.ciphertext, context });
    expect(old.status).toBe(400);
    expect(old.json).toEqual(RETIRED);
    expect((await put(s.admin, '/v1/key/rewrap/app-rot', { ciphertext: v1.json.ciphertext, context })).json).toEqual(RETIRED);
    const fromRewrap = await put(s.admin, '/v1/key/decrypt/app-rot', { ciphertext: rewrapped.json.ciphertext, context });
    expect(fromRewrap.json.plaintext).toBe(v1.json.plaintext);

    // The old versions are kept: lowering the minimum again brings them back, as in Vault.
    expect((await put(s.admin, '/v1/key/config/app-rot', { min_decryption_version: 1 })).status).toBe(200);
    expect((await put(s.admin, '/v1/key/decrypt/app-rot', { ciphertext: v1.json.ciphertext, context })).json.plaintext).toBe(v1.json.plaintext);
  });

  it('refuses bad settings and unknown keys with stable messages, changing nothing', async () => {
    expect((await put(s.admin, '/v1/key/create/app-cfg')).status).toBe(200);
    const range = await checked(s.admin, 'PUT', '/v1/key/config/app-cfg', { min_decryption_version: 2 });
    expect(range.status).toBe(400);
    expect(range.json).toEqual({ message: 'min_decryption_version must be an integer from 1 to the latest version (1)' });
    for (const body of [{ min_decryption_version: 0 }, { min_decryption_version: 1.5 }, { min_decryption_version: '1' }, {}, { min_decryption_version: -3 }]) {
      const r = await checked(s.admin, 'PUT', '/v1/key/config/app-cfg', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toEqual({ message: 'invalid request body: min_decryption_version must be a positive integer' });
    }
    expect((await s.call(s.admin, '/v1/key/config/app-cfg', { method: 'PUT', raw: '{"min_decryption_version":' })).status).toBe(400);
    expect((await s.call(s.admin, '/v1/key/rotate/app-cfg', { method: 'PUT', raw: 'x' })).status).toBe(413);
    expect((await s.call(s.admin, '/v1/key/describe/app-cfg')).json).toMatchObject({ latest_version: 1, min_decryption_version: 1 });

    for (const [path, body] of [
      ['/v1/key/rotate/app-missing', undefined],
      ['/v1/key/config/app-missing', { min_decryption_version: 1 }],
      ['/v1/key/rewrap/app-missing', { ciphertext: b64(Buffer.alloc(80)) }],
    ] as const) {
      const r = await checked(s.admin, 'PUT', path, body);
      expect(r.status, path).toBe(404);
      expect(r.json).toEqual({ message: 'key does not exist' });
    }
    const noCiphertext = await checked(s.admin, 'PUT', '/v1/key/rewrap/app-cfg', {});
    expect(noCiphertext.json).toEqual({ message: 'invalid request body' });
    const bad = await checked(s.admin, 'PUT', '/v1/key/rotate/-bad');
    expect(bad.status).toBe(400);
  });

  it('is policy-checked: each of rotate, config and rewrap needs its own allow', async () => {
    expect((await put(s.admin, '/v1/key/create/app-pol')).status).toBe(200);
    const g = await put(app, '/v1/key/generate/app-pol');
    expect(g.status).toBe(200);
    for (const [who, path, body] of [
      [app, '/v1/key/rotate/app-pol', undefined],
      [app, '/v1/key/config/app-pol', { min_decryption_version: 1 }],
      [app, '/v1/key/rewrap/app-pol', { ciphertext: g.json.ciphertext }],
      [rewrapper, '/v1/key/rotate/app-pol', undefined],
      [rewrapper, '/v1/key/config/app-pol', { min_decryption_version: 1 }],
      [rewrapper, '/v1/key/rewrap/other', { ciphertext: g.json.ciphertext }],
      [stranger, '/v1/key/rewrap/app-pol', { ciphertext: g.json.ciphertext }],
    ] as const) {
      const r = await put(who, path, body);
      expect(r.status, path).toBe(403);
      expect(r.json).toEqual({ message: 'not authorized: insufficient permissions' });
    }
    expect((await s.call(s.admin, '/v1/key/describe/app-pol')).json.latest_version).toBe(1);

    expect((await put(s.admin, '/v1/key/rotate/app-pol')).status).toBe(200);
    const w = await put(rewrapper, '/v1/key/rewrap/app-pol', { ciphertext: g.json.ciphertext });
    expect(w.status).toBe(200);
    expect((await put(app, '/v1/key/decrypt/app-pol', { ciphertext: w.json.ciphertext })).json.plaintext).toBe(g.json.plaintext);
  });

  it('keeps decrypting KES-made ciphertexts (version 1) after rotations, and rewraps them', async () => {
    const raw = vectors.decrypt.filter((v: { expect: string }) => v.expect === 'plaintext');
    for (const [i, v] of raw.entries()) {
      const name = `vector-rot-${i}`;
      expect((await put(s.admin, `/v1/key/import/${name}`, { key: v.master_key, cipher: v.algorithm })).status, v.id).toBe(200);
      expect((await put(s.admin, `/v1/key/rotate/${name}`)).status).toBe(200);
      expect((await put(s.admin, `/v1/key/rotate/${name}`)).json.latest_version).toBe(3);
      const body: Record<string, string> = { ciphertext: v.ciphertext };
      if (v.context !== null) body['context'] = v.context;
      const d = await put(s.admin, `/v1/key/decrypt/${name}`, body);
      expect(d.json.plaintext, v.id).toBe(v.plaintext);
      const w = await put(s.admin, `/v1/key/rewrap/${name}`, body);
      expect(w.status, v.id).toBe(200);
      expect((await put(s.admin, `/v1/key/config/${name}`, { min_decryption_version: 3 })).status).toBe(200);
      expect((await put(s.admin, `/v1/key/decrypt/${name}`, body)).json, v.id).toEqual(RETIRED);
      const again = await put(s.admin, `/v1/key/decrypt/${name}`, { ...body, ciphertext: w.json.ciphertext });
      expect(again.json.plaintext, v.id).toBe(v.plaintext);
    }
  });
});
