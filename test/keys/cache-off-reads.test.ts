/**
 * Issue 19: with the read cache off (`cache.max_bytes: 0`) a node's fetch of a bundle
 * (node token → its group → the bundle) costs at most 2 keystore reads, counted below
 * the cache by the keystore metrics' own hook, over the wire, on an fs keystore. Only
 * group records are kept then, for at most `cache.expiry.credentials`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import { BundleCerts } from '../helpers/bundle-certs.js';

describe.skipIf(workerMode)('a node fetch with the cache off', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-cache-off-'));
  let s: TestServer;
  const reads: string[] = [];
  const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    s = await startTestServer({ config: { keystore: { fs: { path: dir } }, cache: { max_bytes: 0 } } });
    const metrics = s.running.metrics;
    const observe = metrics.keystoreOp.bind(metrics);
    metrics.keystoreOp = (op, seconds, failed) => {
      if (op === 'get' || op === 'list') reads.push(op);
      observe(op, seconds, failed);
    };
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads at most 2 entries per fetch, by node token, 20 fetches in a row', async () => {
    const b = new BundleCerts().bundle({ dnsNames: ['fetch.example.com'] });
    expect(
      (await s.call(s.admin, '/v1/cert/import/fetch.example.com', { method: 'PUT', body: { certificate: b.chainPem, private_key: b.keyPem, ttl: 3600 } }))
        .status,
    ).toBe(200);
    const group = await s.call(s.admin, '/v1/group/create/fetchers', { method: 'PUT', body: {} });
    expect(group.status).toBe(200);
    expect((await s.call(s.admin, '/v1/group/assign/fetchers/fetch.example.com', { method: 'PUT' })).status).toBe(200);
    const reg = await s.call(null, '/v1/node/register/fetchers', { method: 'PUT', body: { node_id: 'n1' }, ...bearer(group.json.group_token as string) });
    expect(reg.status).toBe(200);
    const token = reg.json.node_token as string;
    // The first fetch may pay for what is read once per process; then count.
    expect((await s.call(null, '/v1/cert/get/fetch.example.com', bearer(token))).status).toBe(200);
    await s.running.holder.current.nodes.settled();
    reads.length = 0;
    for (let i = 0; i < 20; i++) expect((await s.call(null, '/v1/cert/get/fetch.example.com', bearer(token))).status).toBe(200);
    expect(reads.length).toBeLessThanOrEqual(2 * 20);
    // Group changes made through this replica hold at once (the kept group record is dropped).
    expect((await s.call(s.admin, '/v1/group/unassign/fetchers/fetch.example.com', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(null, '/v1/cert/get/fetch.example.com', bearer(token))).status).toBe(403);
    expect((await s.call(s.admin, '/v1/group/assign/fetchers/fetch.example.com', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(null, '/v1/cert/get/fetch.example.com', bearer(token))).status).toBe(200);
    // A revoked token stops at once (token records are never kept with the cache off).
    expect((await s.call(s.admin, '/v1/node/revoke/fetchers/n1', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(null, '/v1/cert/get/fetch.example.com', bearer(token))).status).toBe(403);
  });
});
