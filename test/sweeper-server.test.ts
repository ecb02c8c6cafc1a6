/** The server runs the sweeper every `housekeeping.interval`, logs what it removed and counts it in the metrics. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { EntryNotFoundError } from '../keystores/keystore.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { housekeeping: { interval: '50ms', batch: 10 } } });
});
afterAll(async () => s?.close());

it('removes an expired token record in the background and says so in the log', async () => {
  const store = s.running.holder.current.store;
  const hash = createHash('sha256').update('kgn_expired').digest('hex');
  const record = { v: 1, hash, kind: 'node', group: 'g', node: 'n', generation: 'x', issued_at: 0, expires_at: 1, ttl: 1, renewable: true };
  await store.create(`token.${hash}`, Buffer.from(JSON.stringify(record)));
  const live = createHash('sha256').update('kgn_live').digest('hex');
  await store.create(`token.${live}`, Buffer.from(JSON.stringify({ ...record, hash: live, expires_at: Date.now() + 3600_000 })));
  await vi.waitFor(() => expect(s.logLines.some((l) => l.includes('housekeeping: removed 1 expired token records'))).toBe(true), {
    timeout: 20_000,
    interval: 50,
  });
  await expect(store.get(`token.${hash}`)).rejects.toThrow(EntryNotFoundError);
  await expect(store.get(`token.${live}`)).resolves.toBeDefined();
  const metrics = await s.call(s.admin, '/v1/metrics/keygate');
  expect(metrics.text).toMatch(/^keygate_housekeeping_removed_total\{kind="expired_token"\} 1$/m);
}, 30_000);
