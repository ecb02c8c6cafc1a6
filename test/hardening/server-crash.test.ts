/**
 * The keygate server process (fs keystore) killed with SIGKILL under load and
 * started again, several times. Clients may see connection errors (refused,
 * reset) and nothing else: every HTTP answer is a success. Afterwards nothing
 * acknowledged is lost or corrupted: every created key describes, every data
 * key generated decrypts back to its plaintext with its key, every imported
 * bundle's key still signs for its certificate, and groups updated concurrently
 * read back whole.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { X509Certificate, createPrivateKey, randomBytes, sign, verify } from 'node:crypto';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { serverProcess, type ServerProcess } from './server-process.js';
import { recordFigure } from './figures.js';

const KILLS = 4;
const LOOPS = 6;
let p: ServerProcess;
const certs = new BundleCerts();

beforeAll(async () => {
  p = await serverProcess();
  await p.start();
  const www = certs.bundle({ dnsNames: ['www.example.com'] });
  expect(
    (await p.call(p.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: { certificate: www.chainPem, private_key: www.keyPem, ttl: 60 } })).status,
  ).toBe(200);
  for (let l = 0; l < LOOPS; l++) expect((await p.call(p.admin, `/v1/group/create/g-${l}`, { method: 'PUT', body: {} })).status).toBe(200);
});
afterAll(() => p.kill());

interface Acked {
  keys: string[];
  deks: Array<{ key: string; ciphertext: string; plaintext: string }>;
  bundles: string[];
}

/** One client loop: creates keys, generates data keys, imports bundles, assigns and unassigns a bundle, until told to stop. */
async function client(loop: number, acked: Acked, stats: { ok: number; connectionErrors: number; unexpected: string[] }, stop: () => boolean): Promise<void> {
  const bundle = certs.bundle({ dnsNames: [`b${loop}.example.com`], keyType: 'ed25519' });
  for (let i = 0; !stop(); i++) {
    const op = i % 10;
    const mine = acked.keys.filter((k) => k.startsWith(`k-${loop}-`));
    const key = mine[Math.floor(Math.random() * mine.length)];
    const [path, method, body] =
      op === 9
        ? [`/v1/cert/import/b-${loop}-${i}`, 'PUT', { certificate: bundle.chainPem, private_key: bundle.keyPem, ttl: 60 }]
        : op % 3 === 0 || key === undefined
          ? [`/v1/key/create/k-${loop}-${i}`, 'PUT', undefined]
          : op % 3 === 1
            ? [`/v1/key/generate/${key}`, 'PUT', {}]
            : [`/v1/group/${i % 2 ? 'assign' : 'unassign'}/g-${loop}/www.example.com`, i % 2 ? 'PUT' : 'DELETE', undefined];
    try {
      const r = await p.call(p.admin, path, { method, ...(body ? { body } : {}) });
      if (r.status !== 200) {
        stats.unexpected.push(`${method} ${path} → ${r.status} ${r.text}`);
        continue;
      }
      stats.ok++;
      if (path.startsWith('/v1/key/create/')) acked.keys.push(path.slice(15));
      if (path.startsWith('/v1/key/generate/')) acked.deks.push({ key: key as string, ciphertext: r.json.ciphertext, plaintext: r.json.plaintext });
      if (path.startsWith('/v1/cert/import/')) acked.bundles.push(path.slice(16));
    } catch {
      stats.connectionErrors++;
      // A back-off while the server is down, not a wait for something: the loop retries either way.
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Resolves once the clients have had `n` more successful answers: the (re)started server is serving them. */
async function served(stats: { ok: number }, n: number): Promise<void> {
  const target = stats.ok + n;
  await vi.waitFor(() => expect(stats.ok).toBeGreaterThanOrEqual(target), { timeout: 20_000, interval: 20 });
}

it(`survives ${KILLS} SIGKILLs under load: clients see connection errors only, and nothing acknowledged is lost`, async () => {
  const acked: Acked = { keys: [], deks: [], bundles: [] };
  const stats = { ok: 0, connectionErrors: 0, unexpected: [] as string[] };
  let stopped = false;
  const loops = Array.from({ length: LOOPS }, (_, l) => client(l, acked, stats, () => stopped));
  for (let k = 0; k < KILLS; k++) {
    await served(stats, 3 * LOOPS);
    // The random moment of the kill, once the server is under load, is the point of the test.
    await new Promise((r) => setTimeout(r, Math.random() * 400));
    await p.kill('SIGKILL');
    // Down for a moment, not a wait for something: the clients meet a closed port too.
    await new Promise((r) => setTimeout(r, 100));
    await p.start();
  }
  await served(stats, 3 * LOOPS);
  stopped = true;
  await Promise.all(loops);
  expect(stats.unexpected, 'answers other than 200 (only connection errors are allowed)').toEqual([]);
  expect(stats.connectionErrors).toBeGreaterThan(0);

  let checked = 0;
  for (const name of acked.keys) {
    expect((await p.call(p.admin, `/v1/key/describe/${name}`)).status, name).toBe(200);
    checked++;
  }
  for (const d of acked.deks) {
    const r = await p.call(p.admin, `/v1/key/decrypt/${d.key}`, { method: 'PUT', body: { ciphertext: d.ciphertext } });
    expect(r.status, d.key).toBe(200);
    expect(r.json.plaintext).toBe(d.plaintext);
    checked++;
  }
  for (const name of acked.bundles) {
    const r = await p.call(p.admin, `/v1/cert/get/${name}`);
    expect(r.status, name).toBe(200);
    const challenge = randomBytes(16);
    expect(verify(null, challenge, new X509Certificate(r.json.certificate).publicKey, sign(null, challenge, createPrivateKey(r.json.private_key)))).toBe(true);
    checked++;
  }
  for (let l = 0; l < LOOPS; l++) {
    const g = await p.call(p.admin, `/v1/group/describe/g-${l}`);
    expect(g.status).toBe(200);
    expect(['[]', '["www.example.com"]']).toContain(JSON.stringify(g.json.bundles));
  }
  recordFigure('server-crash', {
    kills: KILLS,
    requestsOk: stats.ok,
    connectionErrors: stats.connectionErrors,
    unexpectedAnswers: stats.unexpected.length,
    keys: acked.keys.length,
    dataKeys: acked.deks.length,
    bundles: acked.bundles.length,
    verified: checked,
  });
}, 60_000);
