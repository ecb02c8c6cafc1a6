/**
 * Issue 13: a client built like MinIO's KES SDK (./client.ts) against keygate, call for
 * call, as the admin and as restricted identities of every credential kind (ECDSA,
 * Ed25519 and RSA certificates, and a `kes:v1:` API key). Each call must decode the way
 * the SDK decodes it; each refusal must compare equal to the SDK's canonical error.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { createCertificate, privateKeyToPem } from '../../src/pki/index.js';
import { identityOfCertificate, parseAPIKey } from '../../src/auth/identity.js';
import {
  ErrDecrypt,
  ErrIdentityNotFound,
  ErrKeyExists,
  ErrKeyNotFound,
  ErrNotAllowed,
  ErrPolicyNotFound,
  KesClient,
  KesError,
  decodeMetrics,
  join,
  pathEscape,
  type Credentials,
} from './client.js';

/** What kms-go hands to MinIO for a `kes:v1:` key: a self-signed Ed25519 certificate. */
function apiKeyCredentials(): Credentials & { identity: string; apiKey: string } {
  const apiKey = 'kes:v1:' + Buffer.concat([Buffer.from([0]), randomBytes(32)]).toString('base64');
  const { privateKey, identity } = parseAPIKey(apiKey);
  const cert = createCertificate(privateKey, { commonName: identity, extKeyUsage: ['clientAuth'] }, { privateKey });
  expect(identityOfCertificate(cert)).toBe(identity);
  return { cert, key: privateKeyToPem(privateKey), identity, apiKey };
}

const creds = (c: TestClient): Credentials => ({ cert: c.certPem, key: c.keyPem });

async function refused(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KesError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('the SDK client itself', () => {
  it("escapes like Go's url.PathEscape and joins like path.Join", () => {
    expect(pathEscape('*')).toBe('%2A');
    expect(pathEscape('app-*')).toBe('app-%2A');
    expect(pathEscape('a b/c?d;e,f')).toBe('a%20b%2Fc%3Fd%3Be%2Cf');
    expect(pathEscape("$&+:=@-_.~!'()")).toBe('$&+:=@-_.~%21%27%28%29');
    expect(join('/v1/key/list', '')).toBe('/v1/key/list');
    expect(join('/v1/key/list', '*')).toBe('/v1/key/list/%2A');
    expect(join('/v1/key/create', 'my-key')).toBe('/v1/key/create/my-key');
  });

  it('applies the one-series rule to every family but the request counters', () => {
    const ok = [
      '# HELP kes_http_request_success x',
      '# TYPE kes_http_request_success counter',
      'kes_http_request_success{code="200"} 3',
      'kes_http_request_success{code="204"} 2',
      '# HELP kes_http_response_time x',
      '# TYPE kes_http_response_time histogram',
      'kes_http_response_time_bucket{le="0.01"} 4',
      'kes_http_response_time_bucket{le="+Inf"} 5',
      'kes_http_response_time_sum 0.2',
      'kes_http_response_time_count 5',
    ].join('\n');
    const m = decodeMetrics(ok);
    expect(m.requestOK).toBe(5);
    expect(m.latencyHistogram.get(10)).toBe(4);
    const labelled = '# TYPE keygate_tokens_active gauge\nkeygate_tokens_active{kind="group"} 1\nkeygate_tokens_active{kind="node"} 2\n';
    expect(() => decodeMetrics(labelled)).toThrow('kes: server response contains more than one metric');
  });
});

describe('a client built like the KES SDK, against keygate', () => {
  let s: TestServer;
  let admin: KesClient;
  const restricted: Array<{ kind: string; identity: string; client: KesClient }> = [];
  let stranger: KesClient;
  let strangerId = '';

  beforeAll(async () => {
    const kinds: Array<{ kind: string; make: (s: TestServer) => Credentials & { identity: string } }> = [];
    s = await startTestServer({
      prepare: (pki) => {
        const ecdsa = pki.client({ keyType: 'ecdsa-p256' });
        const ed = pki.client({ keyType: 'ed25519' });
        const rsa = pki.client({ keyType: 'rsa-2048' });
        const api = apiKeyCredentials();
        const none = pki.client();
        strangerId = none.identity;
        kinds.push(
          { kind: 'ECDSA', make: () => ({ ...creds(ecdsa), identity: ecdsa.identity }) },
          { kind: 'Ed25519', make: () => ({ ...creds(ed), identity: ed.identity }) },
          { kind: 'RSA', make: () => ({ ...creds(rsa), identity: rsa.identity }) },
          { kind: 'kes:v1: API key', make: () => api },
        );
        (globalThis as { __none?: Credentials }).__none = creds(none);
        return {
          policy: {
            'minio-app': {
              allow: [
                '/v1/key/create/app-*',
                '/v1/key/generate/app-*',
                '/v1/key/decrypt/app-*',
                '/v1/key/encrypt/app-*',
                '/v1/key/hmac/app-*',
                '/v1/key/list/app-*',
                '/v1/key/describe/app-*',
                '/v1/status',
                '/v1/metrics',
                '/v1/log/audit',
                '/v1/api',
              ],
              deny: ['/v1/key/*/app-secret'],
              identities: [ecdsa.identity, ed.identity, rsa.identity, api.identity],
            },
            reader: { allow: ['/v1/key/describe/*'], identities: [] },
          },
        };
      },
    });
    const ca = s.pki.ca.certPem;
    admin = new KesClient(s.url, ca, creds(s.admin));
    for (const k of kinds) {
      const c = k.make(s);
      restricted.push({ kind: k.kind, identity: c.identity, client: new KesClient(s.url, ca, c) });
    }
    stranger = new KesClient(s.url, ca, (globalThis as { __none?: Credentials }).__none as Credentials);
  });
  afterAll(() => s.close());

  it('Version, IsReady, Status and APIs decode', async () => {
    expect(await admin.version()).toMatch(/^\d+\.\d+\.\d+/);
    expect(await admin.isReady()).toBe(true);
    const st = await admin.status();
    expect(st.keyStoreReachable).toBe(true);
    expect(st.keyStoreAvailable).toBe(true);
    expect(st.cpus).toBeGreaterThan(0);
    const apis = await admin.apis();
    expect(apis.map((a) => a.path)).toEqual(expect.arrayContaining(['/v1/key/create/', '/v1/key/list/', '/v1/metrics', '/v1/log/audit']));
  });

  it('creates, imports, describes, lists and deletes keys; refusals equal the SDK errors', async () => {
    await admin.createKey('sdk-one');
    expect(await refused(admin.createKey('sdk-one'))).toEqual(ErrKeyExists);
    await admin.importKey('sdk-two', randomBytes(32), 'AES256');
    await admin.importKey('sdk-three', randomBytes(32), 'ChaCha20');
    const d = await admin.describeKey('sdk-three');
    expect(d).toMatchObject({ name: 'sdk-three', algorithm: 'ChaCha20', createdBy: s.admin.identity });

    // The SDK escapes the pattern: '*' arrives as %2A.
    expect((await admin.listKeys('*')).names).toEqual(expect.arrayContaining(['sdk-one', 'sdk-two', 'sdk-three']));
    expect((await admin.listKeys('')).names).toEqual(expect.arrayContaining(['sdk-one', 'sdk-two', 'sdk-three']));
    expect((await admin.listKeys('sdk-t*')).names).toEqual(['sdk-three', 'sdk-two']);
    expect((await admin.listKeys('sdk-t')).names).toEqual(['sdk-three', 'sdk-two']);

    await admin.deleteKey('sdk-two');
    expect(await refused(admin.describeKey('sdk-two'))).toEqual(ErrKeyNotFound);
    expect(await refused(admin.deleteKey('sdk-two'))).toEqual(ErrKeyNotFound);
    expect(await refused(admin.generateKey('sdk-two'))).toEqual(ErrKeyNotFound);
  });

  it('data keys, encryption, decryption and HMAC round-trip; a forged ciphertext is ErrDecrypt', async () => {
    await admin.createKey('sdk-crypto');
    const context = Buffer.from('{"bucket":"photos"}');
    const dek = await admin.generateKey('sdk-crypto', context);
    expect(dek.plaintext).toHaveLength(32);
    expect(await admin.decrypt('sdk-crypto', dek.ciphertext, context)).toEqual(dek.plaintext);
    expect(await refused(admin.decrypt('sdk-crypto', dek.ciphertext))).toEqual(ErrDecrypt);
    const plain = await admin.generateKey('sdk-crypto');
    expect(await admin.decrypt('sdk-crypto', plain.ciphertext)).toEqual(plain.plaintext);
    const ct = await admin.encrypt('sdk-crypto', Buffer.from('hello'));
    expect((await admin.decrypt('sdk-crypto', ct)).toString()).toBe('hello');
    const forged = Buffer.from(ct);
    forged[0] = (forged[0] ?? 0) ^ 1;
    expect(await refused(admin.decrypt('sdk-crypto', forged))).toEqual(ErrDecrypt);
    const mac = await admin.hmac('sdk-crypto', Buffer.from('msg'));
    expect(mac).toHaveLength(32);
    expect(await admin.hmac('sdk-crypto', Buffer.from('msg'))).toEqual(mac);
  });

  it('policies and identities: list with %2A, read, describe; unknown ones are the SDK errors', async () => {
    expect((await admin.listPolicies('*')).names).toEqual(['minio-app', 'reader']);
    expect((await admin.listPolicies('min*')).names).toEqual(['minio-app']);
    expect((await admin.listPolicies('')).names).toEqual(['minio-app', 'reader']);
    const p = await admin.getPolicy('minio-app');
    expect(p.allow).toContain('/v1/key/generate/app-*');
    expect(p.deny).toEqual(['/v1/key/*/app-secret']);
    expect((await admin.describePolicy('reader')).name).toBe('reader');
    expect(await refused(admin.describePolicy('nope'))).toEqual(ErrPolicyNotFound);

    const ids = (await admin.listIdentities('*')).names;
    expect(ids).toEqual(expect.arrayContaining([s.admin.identity, ...restricted.map((r) => r.identity)]));
    expect((await admin.listIdentities(s.admin.identity.slice(0, 6) + '*')).names).toContain(s.admin.identity);
    expect(await admin.describeIdentity(restricted[0]?.identity ?? '')).toMatchObject({ policy: 'minio-app', isAdmin: false });
    expect(await admin.describeIdentity(s.admin.identity)).toMatchObject({ isAdmin: true });
    expect(await refused(admin.describeIdentity(strangerId))).toEqual(ErrIdentityNotFound);
  });

  it('DescribeSelf: the admin, each restricted credential kind, and an identity without a policy (404, as KES)', async () => {
    expect(await admin.describeSelf()).toMatchObject({ identity: s.admin.identity, isAdmin: true });
    for (const r of restricted) {
      const self = await r.client.describeSelf();
      expect(self, r.kind).toMatchObject({ identity: r.identity, policy: 'minio-app', isAdmin: false });
      expect(self.allow, r.kind).toContain('/v1/key/list/app-*');
    }
    expect(await refused(stranger.describeSelf())).toEqual(ErrIdentityNotFound);
  });

  it('restricted identities of every credential kind: allowed calls work, the rest is ErrNotAllowed', async () => {
    await admin.createKey('other-key');
    for (const { kind, client } of restricted) {
      const name = `app-${kind.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
      // MinIO's start-up: CreateKey, ignoring ErrKeyExists.
      await client.createKey(name);
      expect(await refused(client.createKey(name)), kind).toEqual(ErrKeyExists);
      const dek = await client.generateKey(name, Buffer.from('ctx'));
      expect(await client.decrypt(name, dek.ciphertext, Buffer.from('ctx')), kind).toEqual(dek.plaintext);
      expect((await client.hmac(name, Buffer.from('m'))).length, kind).toBe(32);
      expect((await client.describeKey(name)).createdBy, kind).not.toBe('');
      // The SDK sends `app-%2A`: the policy decides on the decoded `app-*`.
      expect((await client.listKeys('app-*')).names, kind).toContain(name);
      expect(await refused(client.listKeys('*')), kind).toEqual(ErrNotAllowed);
      expect(await refused(client.generateKey('other-key')), kind).toEqual(ErrNotAllowed);
      expect(await refused(client.deleteKey(name)), kind).toEqual(ErrNotAllowed);
      expect(await refused(client.createKey('app-secret')), kind).toEqual(ErrNotAllowed);
      expect(await refused(client.listPolicies('*')), kind).toEqual(ErrNotAllowed);
      expect(await refused(client.listIdentities('*')), kind).toEqual(ErrNotAllowed);
      expect(await refused(client.isReady()), kind).toEqual(ErrNotAllowed);
      const st = await client.status();
      expect(st.keyStoreReachable, kind).toBe(true);
      expect((await client.metrics()).cpus, kind).toBeGreaterThan(0);
    }
    expect(await refused(stranger.generateKey('other-key'))).toEqual(ErrNotAllowed);
    expect(await refused(stranger.metrics())).toEqual(ErrNotAllowed);
  });

  it("Metrics(): KES's families only, each one series, and the request counters add up", async () => {
    await admin.describeKey('sdk-one');
    await refused(admin.describeKey('missing-key'));
    const m = await admin.metrics();
    expect(m.requestOK).toBeGreaterThan(0);
    expect(m.requestErr).toBeGreaterThan(0);
    expect(m.requestActive).toBeGreaterThanOrEqual(1);
    expect(m.upTimeSeconds).toBeGreaterThanOrEqual(0);
    expect(m.cpus).toBeGreaterThan(0);
    expect(m.heapAlloc).toBeGreaterThan(0);
    expect([...m.latencyHistogram.keys()]).toEqual([10, 50, 100, 250, 500, 1000, 1500, 3000, 5000, 10000]);
    // Nothing but KES's names on the KES path.
    const raw = await s.call(s.admin, '/v1/metrics');
    const names = [...raw.text.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]);
    expect(names.filter((n) => !n?.startsWith('kes_'))).toEqual([]);
  });

  it("keygate's own metrics are on /v1/metrics/keygate, with KES's families too", async () => {
    const r = await s.call(s.admin, '/v1/metrics/keygate');
    expect(r.status).toBe(200);
    expect(r.text).toContain('# TYPE keygate_http_requests_total counter');
    expect(r.text).toContain('# TYPE kes_http_request_success counter');
    // Authorised like any route: the policy above does not list it.
    expect((await s.call(s.pki.client(), '/v1/metrics/keygate')).status).toBe(403);
  });

  it.skipIf(workerMode)('AuditLog(): KES events with the decoded path, the identity and the status', async () => {
    const audit = await restricted[0]?.client.auditLog();
    if (!audit) throw new Error('no restricted client');
    try {
      const r = restricted[0] as { identity: string; client: KesClient };
      await r.client.listKeys('app-*');
      const e = await audit.until((x) => x.apiPath.startsWith('/v1/key/list/'));
      expect(e).toMatchObject({ apiPath: '/v1/key/list/app-*', clientIdentity: r.identity, statusCode: 200, clientIP: '127.0.0.1' });
      expect(Math.abs(e.time.getTime() - Date.now())).toBeLessThan(10 * 60_000);
      await refused(r.client.generateKey('other-key'));
      const denied = await audit.until((x) => x.apiPath === '/v1/key/generate/other-key');
      expect(denied.statusCode).toBe(403);
    } finally {
      audit.close();
    }
  });

  it.skipIf(workerMode)('ErrorLog(): KES\'s {"message"} events', async () => {
    const errors = await admin.errorLog();
    try {
      s.running.holder.current.logger.error('sdk test: something went wrong');
      const e = await errors.until((x) => x.message.includes('sdk test: something went wrong'));
      expect(e.message).toMatch(/level=ERROR/);
    } finally {
      errors.close();
    }
  });
});
