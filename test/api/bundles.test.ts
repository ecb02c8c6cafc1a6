/** `/v1/cert/...` end to end: real TLS listener, real client certificates, policies and group grants. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts, pemBodyLines, type TestBundle } from '../helpers/bundle-certs.js';
import { BundleService } from '../../src/core/bundles/service.js';
import type { BundleAccess, BundleAssignments } from '../../src/core/access.js';

const certs = new BundleCerts();
const www = certs.bundle({ dnsNames: ['www.example.com', 'example.com'], ipAddresses: ['192.0.2.7'] });
const wild = certs.bundle({ dnsNames: ['*.example.com'] });
const secret = certs.bundle({ dnsNames: ['secret.example.net'], keyType: 'rsa-2048' });
const keys: TestBundle[] = [www, wild, secret];

let s: TestServer;
let describer: TestClient;
let importer: TestClient;
let reader: TestClient;
let wildOnly: TestClient;
let node: TestClient;
let stranger: TestClient;

/** What the groups service will answer; here a table the tests edit. */
const readable = new Map<string, Set<string>>();
const assigned = new Map<string, string[]>();
const fakeGroups: BundleAccess & BundleAssignments = {
  canReadBundle: async (identity, token, bundle) => {
    const who = identity !== '' ? identity : token;
    return readable.get(who)?.has(bundle) ? `node:edge/${who.slice(0, 8)}` : null;
  },
  groupsOf: async (bundle) => assigned.get(bundle) ?? [],
  unassignEverywhere: async (bundle) => {
    const was = assigned.get(bundle) ?? [];
    assigned.delete(bundle);
    return was;
  },
};

const body = (b: TestBundle, extra: Record<string, unknown> = {}) => ({ certificate: b.chainPem, private_key: b.keyPem, ttl: 3600, ...extra });
const put = (who: TestClient | null, name: string, payload: unknown) => s.call(who, `/v1/cert/import/${name}`, { method: 'PUT', body: payload });

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      describer = pki.client({ commonName: 'describer' });
      importer = pki.client({ commonName: 'importer' });
      reader = pki.client({ commonName: 'reader' });
      wildOnly = pki.client({ commonName: 'wild-only' });
      node = pki.client({ commonName: 'node' });
      stranger = pki.client({ commonName: 'stranger' });
      return {
        policy: {
          describe: { allow: ['/v1/cert/describe/*', '/v1/cert/list/*', '/v1/cert/lookup/*'], identities: [describer.identity] },
          import: { allow: ['/v1/cert/import/*'], identities: [importer.identity] },
          read: { allow: ['/v1/cert/get/*'], deny: ['/v1/cert/get/secret*'], identities: [reader.identity] },
          // A glob escape: only the bundle literally named '*.example.com'.
          wild: { allow: ['/v1/cert/get/\\*.example.com'], identities: [wildOnly.identity] },
        },
      };
    },
  });
  // Stand in for the groups service until it exists (as compose will wire it).
  // Worker mode has the real one: the tests of group grants are skipped there.
  if (!workerMode) {
    const state = s.running.holder.current;
    s.running.holder.current = { ...state, access: fakeGroups, bundles: new BundleService(state.store, fakeGroups) };
  }
  expect((await put(s.admin, 'www.example.com', body(www, { labels: { env: 'prod' } }))).status).toBe(200);
  expect((await put(s.admin, '*.example.com', body(wild))).status).toBe(200);
  expect((await put(s.admin, 'secret', body(secret))).status).toBe(200);
});
afterAll(() => s.close());

describe('import, describe, get, delete', () => {
  it('imports and answers the name and version; describes without the key; gets with it', async () => {
    const b = certs.bundle({ dnsNames: ['one.example.org'], keyType: 'ecdsa-p384' });
    const r = await put(s.admin, 'one.example.org', body(b, { ttl: 600, labels: { team: 'edge' } }));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ name: 'one.example.org', version: expect.any(String) });

    const d = await s.call(describer, '/v1/cert/describe/one.example.org');
    expect(d.status).toBe(200);
    expect(d.json).toEqual({
      name: 'one.example.org',
      version: r.json.version,
      subject: 'CN=one.example.org',
      issuer: 'CN=bundle test intermediate',
      dns_names: ['one.example.org'],
      ip_addresses: [],
      serial: b.leaf.cert.serialNumber.toUpperCase(),
      not_before: new Date(b.leaf.cert.validFrom).toISOString(),
      not_after: new Date(b.leaf.cert.validTo).toISOString(),
      fingerprint_sha256: b.leaf.cert.fingerprint256,
      key_type: 'ECDSA',
      key_size: 384,
      chain_length: 2,
      ttl: 600,
      labels: { team: 'edge' },
      groups: [],
      created_at: expect.any(String),
      created_by: s.admin.identity,
      updated_at: expect.any(String),
      updated_by: s.admin.identity,
    });
    expect(d.text).not.toContain('PRIVATE KEY');

    const g = await s.call(reader, '/v1/cert/get/one.example.org');
    expect(g.status).toBe(200);
    expect(g.json).toEqual({
      name: 'one.example.org',
      certificate: b.chainPem,
      private_key: b.keyPem,
      ttl: 600,
      version: r.json.version,
      not_after: d.json.not_after,
    });

    expect((await s.call(s.admin, '/v1/cert/delete/one.example.org', { method: 'DELETE' })).status).toBe(200);
    for (const path of ['/v1/cert/describe/one.example.org', '/v1/cert/get/one.example.org']) {
      const gone = await s.call(s.admin, path);
      expect(gone.status).toBe(404);
      expect(gone.json).toEqual({ message: 'bundle does not exist' });
    }
    expect((await s.call(s.admin, '/v1/cert/delete/one.example.org', { method: 'DELETE' })).status).toBe(404);
  });

  it('names wildcard bundles as written, in every route', async () => {
    const d = await s.call(s.admin, '/v1/cert/describe/*.example.com');
    expect(d.json).toMatchObject({ name: '*.example.com', dns_names: ['*.example.com'] });
    expect((await s.call(s.admin, '/v1/cert/list/*.*')).json).toEqual({ names: ['*.example.com'] });
    // Path names are decoded before policy and handler: an encoded '*' is the same bundle.
    const encoded = await s.call(s.admin, '/v1/cert/describe/%2A.example.com');
    expect(encoded.json).toEqual(d.json);
  });

  it('refuses an existing name with 409, and replaces only at the current version', async () => {
    const again = await put(s.admin, 'www.example.com', body(www));
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ message: 'bundle already exists' });

    const renewed = certs.bundle({ dnsNames: ['www.example.com', 'example.com'] });
    const { version } = (await s.call(s.admin, '/v1/cert/describe/www.example.com')).json;
    const ok = await put(importer, 'www.example.com', body(renewed, { version }));
    expect(ok.status).toBe(200);
    expect(ok.json.version).not.toBe(version);
    const stale = await put(importer, 'www.example.com', body(renewed, { version }));
    expect(stale.status).toBe(409);
    expect(stale.json).toEqual({ message: 'bundle was changed concurrently' });
    const missing = await put(importer, 'never-made', body(renewed, { version }));
    expect(missing.status).toBe(404);
    const d = (await s.call(s.admin, '/v1/cert/describe/www.example.com')).json;
    expect(d).toMatchObject({ version: ok.json.version, labels: { env: 'prod' }, created_by: s.admin.identity, updated_by: importer.identity });
    // Later tests expect www's key again.
    expect((await put(s.admin, 'www.example.com', body(www, { version: ok.json.version }))).status).toBe(200);
  });

  it('answers 400 naming the problem, and stores nothing', async () => {
    const cases: Array<[string, unknown, string | RegExp]> = [
      ['a..b', body(www), /^invalid bundle name 'a\.\.b': use 1–248 characters/],
      ['bad', { ...body(www), privateKey: 'x' }, "unknown field 'privateKey'"],
      ['bad', { ...body(www), certificate: undefined }, "field 'certificate' is required: a PEM string"],
      ['bad', { ...body(www), private_key: 42 }, "field 'private_key' is required: a PEM string"],
      ['bad', { ...body(www), ttl: undefined }, "field 'ttl' is required: seconds a node may keep the bundle"],
      ['bad', { ...body(www), ttl: '3600' }, "field 'ttl' is required: seconds a node may keep the bundle"],
      ['bad', { ...body(www), ttl: 0 }, 'ttl must be a whole number of seconds from 1 to 31536000'],
      ['bad', { ...body(www), labels: ['x'] }, "field 'labels' must be an object of strings"],
      ['bad', { ...body(www), allow_expired: 'yes' }, "field 'allow_expired' must be true or false"],
      ['bad', { ...body(www), version: 3 }, "field 'version' must be the version string from describe"],
      ['bad', { ...body(www), private_key: wild.keyPem }, 'private_key: does not match the leaf certificate (the first of the chain)'],
      ['bad', { ...body(www), certificate: 'garbage' }, 'certificate: no PEM block found'],
      ['bad', body(certs.expiringIn(-1)), /^certificate: the leaf certificate expired on /],
    ];
    for (const [name, payload, message] of cases) {
      const r = await put(s.admin, name, payload);
      expect(r.status, JSON.stringify(message)).toBe(400);
      if (typeof message === 'string') expect(r.json).toEqual({ message });
      else expect(r.json.message).toMatch(message);
    }
    const notJSON = await s.call(s.admin, '/v1/cert/import/bad', { method: 'PUT', raw: '{"certificate":' });
    expect(notJSON.json).toEqual({ message: 'invalid request body: unexpected end of input at position 15' });
    expect((await s.call(s.admin, '/v1/cert/list/bad*')).json).toEqual({ names: [] });
    const expiredOK = await put(s.admin, 'bad-but-allowed', body(certs.expiringIn(-1), { allow_expired: true }));
    expect(expiredOK.status).toBe(200);
  });

  it('refuses a CA certificate as the leaf unless allow_ca_leaf says so', async () => {
    const ca = { certificate: certs.root.certPem, private_key: certs.root.keyPem, ttl: 3600 };
    const refused = await put(s.admin, 'a-ca.example', ca);
    expect(refused.status).toBe(400);
    expect(refused.json.message).toMatch(/CA/);
    expect((await s.call(s.admin, '/v1/cert/describe/a-ca.example')).status).toBe(404);
    expect((await put(s.admin, 'a-ca.example', { ...ca, allow_ca_leaf: 'yes' })).json).toEqual({ message: "field 'allow_ca_leaf' must be true or false" });
    expect((await put(s.admin, 'a-ca.example', { ...ca, allow_ca_leaf: true })).status).toBe(200);
  });

  it('enforces the body limit and the methods', async () => {
    const big = await s.call(s.admin, '/v1/cert/import/big', { method: 'PUT', raw: 'x'.repeat((1 << 20) + 1) });
    expect(big.status).toBe(413);
    const wrong = await s.call(s.admin, '/v1/cert/describe/secret', { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.json).toEqual({ message: "received method 'DELETE' expected 'GET'" });
    expect((await s.call(s.admin, '/v1/cert/import/post-ok', { method: 'POST', body: body(certs.bundle({ commonName: 'post' })) })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/cert/delete/secret', { method: 'DELETE', raw: 'x' })).status).toBe(413);
  });
});

describe('policies', () => {
  it('lets a describer describe, list and look up, but never read the key', async () => {
    expect((await s.call(describer, '/v1/cert/describe/secret')).status).toBe(200);
    expect((await s.call(describer, '/v1/cert/list/*')).status).toBe(200);
    expect((await s.call(describer, '/v1/cert/lookup/www.example.com')).status).toBe(200);
    const denied = await s.call(describer, '/v1/cert/get/secret');
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({ message: 'not authorized: insufficient permissions' });
    expect(denied.text).not.toContain('PRIVATE KEY');
  });

  it('applies allow and deny patterns to reads, imports and deletes', async () => {
    expect((await s.call(reader, '/v1/cert/get/www.example.com')).status).toBe(200);
    expect((await s.call(reader, '/v1/cert/get/secret')).status).toBe(403);
    expect((await s.call(reader, '/v1/cert/describe/secret')).status).toBe(403);
    expect((await s.call(importer, '/v1/cert/describe/secret')).status).toBe(403);
    expect((await s.call(importer, '/v1/cert/delete/secret', { method: 'DELETE' })).status).toBe(403);
    expect((await put(stranger, 'x', body(www))).status).toBe(403);
    expect((await s.call(wildOnly, '/v1/cert/get/*.example.com')).status).toBe(200);
    expect((await s.call(wildOnly, '/v1/cert/get/www.example.com')).status).toBe(403);
  });
});

// In-process only: the grants come from the fake groups service swapped into the server's state.
describe.skipIf(workerMode)('group grants (nodes)', () => {
  it('lets a node read what its group is assigned, by certificate or by token, and audits it by name', async () => {
    readable.set(node.identity, new Set(['www.example.com']));
    readable.set('node-token', new Set(['*.example.com']));
    expect((await s.call(node, '/v1/cert/get/www.example.com')).status).toBe(200);
    expect((await s.call(node, '/v1/cert/get/secret')).status).toBe(403);
    expect((await s.call(node, '/v1/cert/get/nonexistent')).status).toBe(403);
    expect((await s.call(node, '/v1/cert/describe/www.example.com')).status).toBe(403);
    const byToken = await s.call(null, '/v1/cert/get/*.example.com', { headers: { Authorization: 'Bearer node-token' } });
    expect(byToken.status).toBe(200);
    expect(byToken.json.private_key).toBe(wild.keyPem);
    expect((await s.call(null, '/v1/cert/get/www.example.com', { headers: { Authorization: 'Bearer node-token' } })).status).toBe(403);
    const anonymous = await s.call(null, '/v1/cert/get/www.example.com');
    expect(anonymous.status).toBe(400);
    expect(anonymous.json).toEqual({ message: 'tls: client certificate is required' });
    const audit = s.logLines.map((l) => JSON.parse(l)).filter((l) => l.path === '/v1/cert/get/www.example.com' && l.status === 200);
    expect(audit.map((l) => l.identity)).toContain(`node:edge/${node.identity.slice(0, 8)}`);
  });

  it('shows a node only the lookup matches it may read; nothing readable is a 403', async () => {
    readable.set(node.identity, new Set(['*.example.com']));
    const r = await s.call(node, '/v1/cert/lookup/www.example.com');
    expect(r.status).toBe(200);
    expect(r.json.bundles.map((b: { name: string }) => b.name)).toEqual(['*.example.com']);
    const all = await s.call(s.admin, '/v1/cert/lookup/www.example.com');
    expect(all.json.bundles.map((b: { name: string; match: string }) => `${b.name}:${b.match}`)).toEqual(['www.example.com:exact', '*.example.com:wildcard']);
    expect((await s.call(node, '/v1/cert/lookup/secret.example.net')).status).toBe(403);
    expect((await s.call(node, '/v1/cert/lookup/nothing.example.org')).status).toBe(403);
    // A name no server can have is refused before any policy or grant is asked.
    expect((await s.call(node, '/v1/cert/lookup/*bad*')).status).toBe(400);
  });

  it('refuses to delete an assigned bundle unless forced, and shows its groups', async () => {
    expect((await put(s.admin, 'assigned', body(wild))).status).toBe(200);
    assigned.set('assigned', ['edge']);
    expect((await s.call(s.admin, '/v1/cert/describe/assigned')).json.groups).toEqual(['edge']);
    const refused = await s.call(s.admin, '/v1/cert/delete/assigned', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(refused.json).toEqual({ message: 'bundle is assigned to groups (edge): unassign it first or force the deletion' });
    expect((await s.call(s.admin, '/v1/cert/delete/assigned?force=maybe', { method: 'DELETE' })).status).toBe(400);
    expect((await s.call(s.admin, '/v1/cert/delete/assigned?force=true', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/cert/describe/assigned')).status).toBe(404);
  });
});

/** Resolves once the server has `n` requests in flight (the scrape asking counts as one). */
async function inFlight(n: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const text = (await s.call(s.admin, '/v1/metrics')).text;
      expect(Number(/^kes_http_request_active (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(n);
    },
    { timeout: 20_000, interval: 50 },
  );
}

describe('watch (long-poll for agents)', () => {
  it('answers at once for a stale version, when the bundle changes, or with the same version after the wait', async () => {
    const name = 'watched.example.org';
    const watched = certs.bundle({ dnsNames: [name] });
    const first = await put(s.admin, name, body(watched));
    expect(first.status).toBe(200);
    const v1 = first.json.version as string;
    const stale = await s.call(s.admin, `/v1/cert/watch/${name}?version=old&wait=30`);
    expect(stale.json).toEqual({ name, version: v1 });

    const same = await s.call(s.admin, `/v1/cert/watch/${name}?version=${v1}&wait=1`);
    expect(same.json).toEqual({ name, version: v1 });

    const waiting = s.call(s.admin, `/v1/cert/watch/${name}?version=${v1}&wait=30`);
    // A watch that arrived after the replace would answer at once with the same reply: wait
    // until it is in flight (it and the scrape), so it is the waiting watch that is woken.
    await inFlight(2);
    const replaced = await put(s.admin, name, body(watched, { version: v1, ttl: 60 }));
    expect(replaced.status).toBe(200);
    const changed = await waiting;
    expect(changed.json).toEqual({ name, version: replaced.json.version });
    expect(changed.json.version).not.toBe(v1);
  });

  // In-process only: the node's grant comes from the fake groups service.
  it.skipIf(workerMode)('is authorized like a read, and answers 404 for a missing bundle and 400 for a bad wait', async () => {
    readable.set(node.identity, new Set(['www.example.com']));
    expect((await s.call(node, '/v1/cert/watch/www.example.com?wait=0')).status).toBe(200);
    expect((await s.call(node, '/v1/cert/watch/secret.example.net?wait=0')).status).toBe(403);
    expect((await s.call(stranger, '/v1/cert/watch/www.example.com?wait=0')).status).toBe(403);
    // A path policy that allows reading the bundle allows watching it (and the deny pattern holds).
    expect((await s.call(reader, '/v1/cert/watch/www.example.com?wait=0')).status).toBe(200);
    expect((await s.call(reader, '/v1/cert/watch/secret.example.net?wait=0')).status).toBe(403);
    expect((await s.call(s.admin, '/v1/cert/watch/nothing.example.com?wait=0')).status).toBe(404);
    expect((await s.call(s.admin, '/v1/cert/watch/www.example.com?wait=soon')).status).toBe(400);
    readable.delete(node.identity);
  });
});

describe('lookup by server name', () => {
  it('finds exact, wildcard and IP matches; 404 when none; 400 for a bad name', async () => {
    const names = async (sni: string) => {
      const r = await s.call(describer, `/v1/cert/lookup/${sni}`);
      return r.status === 200 ? r.json.bundles.map((b: { name: string; match: string }) => `${b.name}:${b.match}`) : r.status;
    };
    expect(await names('www.example.com')).toEqual(['www.example.com:exact', '*.example.com:wildcard']);
    expect(await names('api.example.com')).toEqual(['*.example.com:wildcard']);
    expect(await names('example.com')).toEqual(['www.example.com:exact']);
    expect(await names('192.0.2.7')).toEqual(['www.example.com:exact']);
    expect(await names('a.b.example.com')).toBe(404);
    const none = await s.call(describer, '/v1/cert/lookup/example.org');
    expect(none.json).toEqual({ message: 'no bundle matches the server name' });
    const bad = await s.call(describer, '/v1/cert/lookup/*.example.com');
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ message: 'invalid server name: expected a DNS name or an IP address' });
    const one = await s.call(describer, '/v1/cert/lookup/example.com');
    expect(one.json).toEqual({
      server_name: 'example.com',
      bundles: [
        { name: 'www.example.com', match: 'exact', key_type: 'ECDSA', not_after: new Date(www.leaf.cert.validTo).toISOString(), version: expect.any(String) },
      ],
    });
  });
});

describe('list', () => {
  // In-process only: imports 1005 bundles through the service, not over HTTP.
  it.skipIf(workerMode)('pages past 1000 names with continue_at', async () => {
    const plain = certs.bundle({ commonName: 'no SANs' });
    const svc = s.running.holder.current.bundles;
    for (let i = 0; i < 1005; i++) await svc.import(`page-${String(i).padStart(4, '0')}`, { chainPem: plain.chainPem, keyPem: plain.keyPem, ttl: 60 }, 'test');
    const first = await s.call(s.admin, '/v1/cert/list/page-*');
    expect(first.json.names).toHaveLength(1000);
    expect(first.json.continue_at).toBe('page-1000');
    const second = await s.call(s.admin, `/v1/cert/list/page-*?continue_at=${first.json.continue_at}`);
    expect(second.json).toEqual({ names: ['page-1000', 'page-1001', 'page-1002', 'page-1003', 'page-1004'] });
    expect((await s.call(s.admin, '/v1/cert/list/page-*?continue_at=..')).status).toBe(400);
    expect((await s.call(s.admin, '/v1/cert/list/a..b*')).status).toBe(400);
  });

  it('filters bundles expiring within N days', async () => {
    expect((await put(s.admin, 'exp-soon', body(certs.expiringIn(3)))).status).toBe(200);
    expect((await put(s.admin, 'exp-late', body(certs.expiringIn(90)))).status).toBe(200);
    expect((await s.call(s.admin, '/v1/cert/list/exp-*?expiring_within_days=7')).json).toEqual({ names: ['exp-soon'] });
    expect((await s.call(s.admin, '/v1/cert/list/exp-*?expiring_within_days=365')).json).toEqual({ names: ['exp-late', 'exp-soon'] });
    const bad = await s.call(s.admin, '/v1/cert/list/*?expiring_within_days=soon');
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ message: 'expiring_within_days must be a whole number of days' });
  });
});

describe('log hygiene', () => {
  it('never writes a private key (PEM or any of its base64 lines) to a log line', async () => {
    // Failing requests log too: a mismatched pair and a body cut off inside the key.
    await put(s.admin, 'hygiene', { ...body(www), private_key: secret.keyPem });
    await s.call(s.admin, '/v1/cert/import/hygiene', { method: 'PUT', raw: JSON.stringify(body(secret)).slice(0, -40) });
    await s.call(reader, '/v1/cert/get/www.example.com');
    expect(s.logLines.length).toBeGreaterThan(20);
    for (const b of keys) {
      const der = b.leaf.key.export({ type: 'pkcs8', format: 'der' });
      const forms = [...pemBodyLines(b.keyPem), der.toString('hex').slice(0, 64), der.toString('base64url').slice(0, 64)];
      for (const line of s.logLines) {
        expect(line).not.toContain('PRIVATE KEY');
        for (const form of forms) expect(line.includes(form), `log line leaks a key: ${line}`).toBe(false);
      }
    }
  });
});
