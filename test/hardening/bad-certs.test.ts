/**
 * Bad certificate bundles, property-based, end to end through `/v1/cert/import`:
 * truncated and corrupted PEM, blocks of the wrong kind, a key that does not
 * match, broken chains, absurd validity, unsupported keys, and wrong-typed or
 * out-of-range fields. Each must get a 400 JSON error and store nothing; the
 * broken certificates and keys also go through RKS's `POST /rks/v1/secret`,
 * which must answer a 400 plain-text line and store nothing either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { X509Certificate, createPrivateKey, randomBytes, sign, verify } from 'node:crypto';
import { dump } from '../helpers/fleet.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { BundleCerts, ed448, p521, rsa1024, type TestBundle } from '../helpers/bundle-certs.js';
import { recordFigure } from './figures.js';
import { expectUnchanged, restore } from './store.js';
import { RKS } from './fixture.js';

const DAY = 86_400_000;
const certs = new BundleCerts();
let s: TestServer;
let baseline: Map<string, string>;
let good: TestBundle[];
let cases = 0;
/** Changed keys that were accepted because the change did not matter (they still sign for the leaf). */
let harmless = 0;

/** The RKS admin token: broken certificates are also sent through RKS's `POST /rks/v1/secret`. */
let rksToken: string;

beforeAll(async () => {
  s = await startTestServer({ config: { limits: { auth_failures: 0 }, rks: RKS } });
  const login = await s.call(null, '/rks/v1/admin/login', { method: 'POST', body: RKS.admin, headers: { 'Content-Type': 'application/json' } });
  expect(login.status).toBe(200);
  rksToken = login.json.adminToken as string;
  good = [
    certs.bundle({ dnsNames: ['a.example.com'] }),
    certs.bundle({ dnsNames: ['b.example.com'], keyType: 'ed25519' }),
    certs.bundle({ dnsNames: ['c.example.com'], keyType: 'rsa-2048' }),
  ];
  // Something to protect: a bundle that a bad replace must not touch.
  const first = good[0] as TestBundle;
  expect(
    (await s.call(s.admin, '/v1/cert/import/a.example.com', { method: 'PUT', body: { certificate: first.chainPem, private_key: first.keyPem, ttl: 60 } }))
      .status,
  ).toBe(200);
  // Not vacuous: RKS takes a good secret.
  const ok = await s.call(null, '/rks/v1/secret/rks-ok.example.com', {
    method: 'POST',
    body: { data: { certificate: first.chainPem, private_key: first.keyPem, meta: { ttl: 600 } } },
    headers: { 'X-Vault-Token': rksToken, 'Content-Type': 'application/json' },
  });
  expect(ok.status, ok.text).toBe(201);
  baseline = await dump(s.running.holder.current.store);
});
afterAll(async () => {
  recordFigure('bad-certs', { cases, acceptedHarmless: harmless });
  await s.close();
});

/** Imports `body` as a new bundle (or a replace of a.example.com with `replace`) and expects a 400 that changed nothing. */
async function refused(body: Record<string, unknown>, name = 'new.example.com'): Promise<string> {
  cases++;
  const r = await s.call(s.admin, `/v1/cert/import/${name}`, { method: 'PUT', body });
  await expectUnchanged(s.running.holder.current.store, baseline, `import → ${r.status} ${r.text}`);
  expect(r.status, `${r.status} ${r.text}`).toBe(400);
  expect(r.headers['content-type']).toBe('application/json');
  expect(Object.keys(r.json)).toEqual(['message']);
  if (name === 'new.example.com' && Object.keys(body).join() === 'certificate,private_key,ttl') await refusedByRks(body);
  return r.json.message as string;
}

/** The same certificate and key as an RKS secret: a 400 plain-text line, nothing stored. */
async function refusedByRks(body: Record<string, unknown>): Promise<void> {
  cases++;
  const secret = { data: { certificate: body['certificate'], private_key: body['private_key'], meta: { ttl: body['ttl'] } } };
  const r = await s.call(null, '/rks/v1/secret/new.example.com', {
    method: 'POST',
    body: secret,
    headers: { 'X-Vault-Token': rksToken, 'Content-Type': 'application/json' },
  });
  await expectUnchanged(s.running.holder.current.store, baseline, `RKS secret → ${r.status} ${r.text}`);
  expect(r.status, r.text).toBe(400);
  expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(r.text).toMatch(/^[^\n]+\n$/);
}

/**
 * A changed byte may fall in a field that does not matter (a PKCS#8 version that OpenSSL
 * reads leniently): then the import may succeed, but only if the stored key still signs
 * for the stored leaf. Anything else must be refused as by `refused`.
 */
async function refusedOrWorking(b: Record<string, unknown>): Promise<void> {
  const r = await s.call(s.admin, '/v1/cert/import/new.example.com', { method: 'PUT', body: b });
  if (r.status !== 200) {
    await restore(s.running.holder.current.store, baseline);
    return void (await refused(b));
  }
  cases++;
  harmless++;
  const got = (await s.call(s.admin, '/v1/cert/get/new.example.com')).json;
  const challenge = randomBytes(32);
  const key = createPrivateKey(got.private_key as string);
  const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const works = verify(digest, challenge, new X509Certificate(got.certificate as string).publicKey, sign(digest, challenge, key));
  await restore(s.running.holder.current.store, baseline);
  expect(works, 'an accepted key must sign for its leaf').toBe(true);
}

const bundleOf = () => fc.integer({ min: 0, max: 2 }).map((i) => good[i] as TestBundle);
const body = (b: { chainPem: string; keyPem: string }, extra: Record<string, unknown> = {}) => ({
  certificate: b.chainPem,
  private_key: b.keyPem,
  ttl: 3600,
  ...extra,
});

/** [start, end) of each block's inside: after its BEGIN line, up to the last character of its END line. */
function blockInsides(pem: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of pem.matchAll(/-----BEGIN [A-Z ]+-----\r?\n([\s\S]*?)-----END [A-Z ]+-----/g)) {
    const start = (m.index as number) + m[0].indexOf('\n') + 1;
    out.push([start, (m.index as number) + m[0].length - 1]);
  }
  return out;
}

describe('broken PEM', () => {
  it('a chain or key cut off anywhere inside a block', async () => {
    await fc.assert(
      fc.asyncProperty(bundleOf(), fc.boolean(), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), async (b, cutKey, which, where) => {
        const text = cutKey ? b.keyPem : b.chainPem;
        const blocks = blockInsides(text);
        const [start, end] = blocks[which % blocks.length] as [number, number];
        const cut = text.slice(0, start + Math.floor(where * (end - start)));
        await refused(body(cutKey ? { chainPem: b.chainPem, keyPem: cut } : { chainPem: cut, keyPem: b.keyPem }));
      }),
      { numRuns: 60 },
    );
  });

  it('one base64 character of the leaf or the key changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        bundleOf(),
        fc.boolean(),
        fc.nat(),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('')),
        async (b, inKey, at, c) => {
          const text = inKey ? b.keyPem : b.chainPem;
          const [start, end] = blockInsides(text)[0] as [number, number];
          const positions = [...text.slice(start, end).matchAll(/[A-Za-z0-9+/]/g)].map((m) => start + (m.index as number));
          const pos = positions[at % positions.length] as number;
          const changed = text.slice(0, pos) + c + text.slice(pos + 1);
          // The change must alter the DER (the last character before padding has spare bits).
          const der = (t: string) => Buffer.from(t.slice(start, end).replace(/-.*$/s, ''), 'base64');
          fc.pre(!der(changed).equals(der(text)));
          if (inKey) await refusedOrWorking(body({ chainPem: b.chainPem, keyPem: changed }));
          else await refused(body({ chainPem: changed, keyPem: b.keyPem }));
        },
      ),
      { numRuns: 80 },
    );
  });

  it('garbage, blocks of the wrong kind, swapped fields, encrypted keys', async () => {
    const b = good[0] as TestBundle;
    const der = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');
    const wrap = (label: string, b64: string) => `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;
    const variants = fc.constantFrom(
      { chainPem: '', keyPem: b.keyPem },
      { chainPem: 'not a pem', keyPem: b.keyPem },
      { chainPem: b.keyPem, keyPem: b.chainPem },
      { chainPem: b.chainPem, keyPem: b.chainPem },
      { chainPem: b.keyPem, keyPem: b.keyPem },
      { chainPem: wrap('CERTIFICATE', der(b.keyPem)), keyPem: b.keyPem },
      { chainPem: b.chainPem, keyPem: wrap('PRIVATE KEY', der(b.leaf.certPem)) },
      { chainPem: b.chainPem, keyPem: wrap('ENCRYPTED PRIVATE KEY', der(b.keyPem)) },
      { chainPem: b.chainPem, keyPem: wrap('RSA PRIVATE KEY', der(b.keyPem)) },
      { chainPem: b.chainPem.replace('-----END CERTIFICATE-----', '-----END PRIVATE KEY-----'), keyPem: b.keyPem },
      { chainPem: b.chainPem, keyPem: b.keyPem.replace(/\n(?=[A-Za-z0-9+/])/, '\n!') },
      { chainPem: b.chainPem.replace(/=*\n-----END/, '====\n-----END'), keyPem: b.keyPem },
      { chainPem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', keyPem: b.keyPem },
      { chainPem: b.chainPem + '-----BEGIN CERTIFICATE-----\nAAAA\n', keyPem: b.keyPem },
      {
        chainPem: b.chainPem,
        keyPem: `-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n${der(b.keyPem)}\n-----END PRIVATE KEY-----\n`,
      },
    );
    await fc.assert(
      fc.asyncProperty(variants, async (v) => void (await refused(body(v)))),
      { numRuns: 30 },
    );
  });
});

describe('certificates that do not make a bundle', () => {
  it('a key of another bundle, a misordered, foreign or overlong chain', async () => {
    const other = new BundleCerts();
    const [a, bb] = [good[0] as TestBundle, good[1] as TestBundle];
    const foreign = other.bundle({ dnsNames: ['f.example.com'] });
    const variants = fc.constantFrom(
      { chainPem: a.chainPem, keyPem: bb.keyPem },
      { chainPem: a.chainPem, keyPem: foreign.keyPem },
      { chainPem: certs.intermediate.certPem + a.leaf.certPem, keyPem: a.keyPem },
      { chainPem: a.leaf.certPem + other.intermediate.certPem, keyPem: a.keyPem },
      { chainPem: a.leaf.certPem + a.leaf.certPem, keyPem: a.keyPem },
      { chainPem: a.chainPem + (certs.intermediate.certPem + a.leaf.certPem).repeat(5), keyPem: a.keyPem },
    );
    await fc.assert(
      fc.asyncProperty(variants, async (v) => void (await refused(body(v)))),
      { numRuns: 20 },
    );
  });

  it('absurd validity: centuries long, not yet valid, expired (without allow_expired)', async () => {
    const now = Date.now();
    const validity = fc.oneof(
      fc.integer({ min: 101, max: 5000 }).map((years) => ({ notBefore: new Date(now - DAY), notAfter: new Date(now + years * 366 * DAY) })),
      fc.integer({ min: 1, max: 3650 }).map((days) => ({ notBefore: new Date(now + days * DAY), notAfter: new Date(now + (days + 30) * DAY) })),
      fc.integer({ min: 1, max: 3650 }).map((days) => ({ notBefore: new Date(now - (days + 30) * DAY), notAfter: new Date(now - days * DAY) })),
    );
    await fc.assert(
      fc.asyncProperty(validity, async (v) => {
        await refused(body(certs.bundle({ dnsNames: ['v.example.com'], ...v, keyType: 'ed25519' })));
      }),
      { numRuns: 12 },
    );
  });

  it('keys keygate does not serve: RSA-1024, P-521, Ed448', async () => {
    for (const key of [rsa1024(), p521(), ed448()]) await refused(body(certs.withKey(key)));
  });
});

describe('fields out of range or of the wrong type', () => {
  it('ttl, labels, allow_expired, version and unknown fields', async () => {
    const bad = fc.oneof(
      fc
        .oneof(
          fc.integer({ max: 0 }),
          fc.integer({ min: 31_536_001 }),
          fc.double({ noInteger: true, noNaN: true, min: 1, max: 1e6 }),
          fc.constantFrom(1e308, -0.5, '3600', null, true, [3600], { s: 1 }),
        )
        .map((ttl) => ({ ttl })),
      fc
        .oneof(
          fc.constantFrom(
            [],
            'env=prod',
            7,
            { env: 7 },
            { env: null },
            { 'bad key': 'v' },
            { '': 'v' },
            { k: 'x'.repeat(257) },
            { k: 'line\nbreak' },
            JSON.parse('{"__proto__":"x"}') as unknown,
          ),
          fc.integer({ min: 33, max: 200 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))),
          fc.string({ minLength: 64, maxLength: 100, unit: fc.constantFrom('a', 'b') }).map((k) => ({ [k]: 'v' })),
        )
        .map((labels) => ({ labels })),
      fc.constantFrom('true', 1, 0, null, [], {}).map((allow_expired) => ({ allow_expired })),
      fc.constantFrom('', 7, null, [], {}).map((version) => ({ version })),
      fc
        .string({ minLength: 1, maxLength: 20 })
        .filter((k) => !['certificate', 'private_key', 'ttl', 'labels', 'allow_expired', 'version'].includes(k))
        .map((k) => ({ [k]: 1 })),
      fc.constantFrom({ certificate: 7 }, { private_key: [] }, { certificate: null }, { private_key: '' }),
    );
    await fc.assert(
      fc.asyncProperty(bundleOf(), bad, async (b, extra) => void (await refused(body(b, extra)))),
      { numRuns: 120 },
    );
  });

  it('a replace that names a version that never existed, or changes nothing valid, leaves the bundle as it was', async () => {
    const a = good[0] as TestBundle;
    const current = (await s.call(s.admin, '/v1/cert/describe/a.example.com')).json.version as string;
    // A wrong version is a 409 (conflict), not a 400: checked separately, and it must not write either.
    cases++;
    const stale = await s.call(s.admin, '/v1/cert/import/a.example.com', {
      method: 'PUT',
      body: body(a, { version: current.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }),
    });
    await expectUnchanged(s.running.holder.current.store, baseline, 'a stale replace');
    expect(stale.status).toBe(409);
    await refused(body({ chainPem: a.chainPem, keyPem: (good[1] as TestBundle).keyPem }, { version: current }), 'a.example.com');
    await refused(body(a, { version: current, ttl: 0 }), 'a.example.com');
  });
});
