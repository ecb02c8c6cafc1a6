/**
 * Vault faults that test/vault does not cover, end to end through keygate on the
 * project's Vault test server: connections dropped mid-request (the request went
 * out, no answer came back) while clients write, and every token expiring again
 * and again under concurrent load. Errors must be clean (a stable JSON message,
 * 5xx only for the keystore), keygate must recover without a restart, and no
 * acknowledged write may be lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from '../vault-server/index.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { recordFigure } from './figures.js';

let vault: VaultTestServer;
let s: TestServer;
const figures = { dropped: 0, dropWrites: 0, dropWritesFailedCleanly: 0, expiries: 0, requestsUnderExpiry: 0, failuresUnderExpiry: 0 };

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root' });
  const admin = new VaultAdmin(vault.url, 'root');
  await admin.mountKV('hard', 'v2');
  await admin.keygatePolicy('keygate-hard', { version: 'v2', engine: 'hard', prefix: '' });
  await admin.enableAuth('approle', 'approle');
  const creds = await admin.appRole('approle', 'keygate-hard', ['keygate-hard'], '1h');
  s = await startTestServer({
    config: {
      // The periodic health probe is off in effect (1 h): a dropped connection meant for a
      // request must not land on a probe instead, which would mark Vault down for a second and
      // fail the next reads fast, on a busy machine often. Timeouts are long for the same reason.
      keystore: {
        vault: {
          endpoint: vault.url,
          engine: 'hard',
          version: 'v2',
          approle: { id: creds.roleId, secret: creds.secretId },
          status: { ping: '1h' },
          timeout: '10s',
        },
      },
      // No read cache: every read goes to Vault and meets the faults.
      cache: { max_bytes: 0 },
      limits: { auth_failures: 0 },
    },
  });
});
afterAll(async () => {
  recordFigure('vault-faults', figures);
  await s?.close();
  await vault?.close();
});

async function listAll(prefix: string): Promise<Set<string>> {
  const names = new Set<string>();
  let cursor = '';
  do {
    const page = await s.call(s.admin, `/v1/key/list/${prefix}*${cursor ? `?continue_at=${cursor}` : ''}`);
    expect(page.status).toBe(200);
    for (const n of page.json.names as string[]) names.add(n);
    cursor = page.json.continue_at ?? '';
  } while (cursor);
  return names;
}

/** Retries `path` until it answers 200: keygate recovers without a restart. */
async function eventually(path: string): Promise<void> {
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = (await s.call(s.admin, path)).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  expect(status, path).toBe(200);
}

describe('dropped connections', () => {
  it('fail writes cleanly, retry reads, lose nothing acknowledged, and need no restart', async () => {
    const acked: string[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 2 === 0) {
        vault.faults.dropNext(1);
        figures.dropped++;
        figures.dropWrites++;
      }
      const r = await s.call(s.admin, `/v1/key/create/drop-${i}`, { method: 'PUT' });
      if (r.status === 200) acked.push(`drop-${i}`);
      else {
        // A dropped connection is a keystore fault: 502/503 with a stable message, never a hang or a 500.
        expect([502, 503], r.text).toContain(r.status);
        expect(r.json).toEqual({ message: expect.stringMatching(/^(failed to create key|key store is not reachable)$/) });
        figures.dropWritesFailedCleanly++;
        await eventually('/v1/ready');
      }
    }
    expect(acked.length).toBeGreaterThanOrEqual(20);
    // Idempotent reads are retried once by the adapter: a single drop is invisible.
    for (const name of acked.slice(0, 10)) {
      vault.faults.dropNext(1);
      figures.dropped++;
      const d = await s.call(s.admin, `/v1/key/describe/${name}`);
      expect(d.status, d.text).toBe(200);
    }
    const listed = await listAll('drop-');
    for (const name of acked) expect(listed.has(name), name).toBe(true);
  }, 60_000);
});

describe('token expiry under concurrent load', () => {
  it('logs in again without failing a single request, however often every token expires', async () => {
    await eventually('/v1/ready');
    const keys = ['exp-a', 'exp-b', 'exp-c'];
    for (const k of keys) expect((await s.call(s.admin, `/v1/key/create/${k}`, { method: 'PUT' })).status).toBe(200);
    const acked: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const loop = async (n: number, answered: () => void) => {
      for (let i = 0; !stop; i++) {
        const key = keys[i % keys.length] as string;
        const r =
          i % 3 === 0
            ? await s.call(s.admin, `/v1/key/create/exp-${n}-${i}`, { method: 'PUT' })
            : await s.call(s.admin, `/v1/key/generate/${key}`, { method: 'PUT', body: {} });
        figures.requestsUnderExpiry++;
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
        else if (i % 3 === 0) acked.push(`exp-${n}-${i}`);
        answered();
      }
    };
    // Paced by answers, not by the clock: all tokens expire again once every loop has had an
    // answer since the last expiry (and at least 10 came), six times. So no request lives
    // through two expiries — one re-login per request is what the adapter promises — however
    // slowly a busy machine (or a second worker) serves them.
    const answeredBy = Array.from({ length: 8 }, () => 0);
    let waiting: { since: number[]; total: number; resolve: () => void } | undefined;
    const answered = (n: number) => {
      answeredBy[n] = (answeredBy[n] as number) + 1;
      if (!waiting) return;
      const { since, total, resolve } = waiting;
      if (answeredBy.every((c, i) => c > (since[i] as number)) && figures.requestsUnderExpiry >= total) resolve();
    };
    const afterEveryLoop = () => new Promise<void>((resolve) => (waiting = { since: [...answeredBy], total: figures.requestsUnderExpiry + 10, resolve }));
    const loops = Array.from({ length: 8 }, (_, n) => loop(n, () => answered(n)));
    for (let round = 1; round <= 6; round++) {
      await afterEveryLoop();
      vault.faults.expireAllTokens();
      figures.expiries++;
    }
    await afterEveryLoop();
    stop = true;
    await Promise.all(loops);
    figures.failuresUnderExpiry = failures.length;
    expect(failures).toEqual([]);
    expect(figures.requestsUnderExpiry).toBeGreaterThan(50);
    const listed = await listAll('exp-');
    for (const name of acked) expect(listed.has(name), name).toBe(true);
  }, 60_000);
});
