/**
 * Revocation across replicas: two keygate servers on one keystore, each with its own
 * read cache (the default five minutes for ordinary entries). A node token revoked, or
 * a group token rotated, through one replica must stop working on the other within
 * `cache.expiry.credentials`, not within the cache's five minutes. The waits are on the
 * other replica's answers; a replica that honoured the 5-minute cache would make them
 * time out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';

describe.skipIf(workerMode)('revocation reaches every replica within cache.expiry.credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-replicas-'));
  let a: TestServer;
  let b: TestServer;
  const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    const pki = new TestPki();
    const config = {
      keystore: { fs: { path: dir } },
      cache: { expiry: { any: '5m', unused: '5m', credentials: '1s' } },
      limits: { auth_failures: 0 },
    };
    a = await startTestServer({ pki, config });
    b = await startTestServer({ pki, config });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a revoked node token, and a group token rotated away', async () => {
    const group = await a.call(a.admin, '/v1/group/create/replicas', { method: 'PUT', body: {} });
    expect(group.status).toBe(200);
    const groupToken = group.json.group_token as string;
    const reg = await a.call(null, '/v1/node/register/replicas', { method: 'PUT', body: { node_id: 'n1' }, ...bearer(groupToken) });
    expect(reg.status).toBe(200);
    const nodeToken = reg.json.node_token as string;

    // Replica B reads with both tokens, so their entries sit in its cache.
    expect((await b.call(null, '/v1/node/bundles', bearer(nodeToken))).status).toBe(200);
    expect((await b.call(null, '/v1/node/register/replicas', { method: 'PUT', body: { node_id: 'n2' }, ...bearer(groupToken) })).status).toBe(200);

    expect((await a.call(a.admin, '/v1/node/revoke/replicas/n1', { method: 'DELETE' })).status).toBe(200);
    expect((await a.call(a.admin, '/v1/group/rotate/replicas', { method: 'PUT' })).status).toBe(200);

    await vi.waitFor(async () => expect((await b.call(null, '/v1/node/bundles', bearer(nodeToken))).status).toBe(403), { timeout: 30_000, interval: 100 });
    await vi.waitFor(
      async () =>
        expect((await b.call(null, '/v1/node/register/replicas', { method: 'PUT', body: { node_id: 'n3' }, ...bearer(groupToken) })).status).toBe(403),
      { timeout: 30_000, interval: 100 },
    );
  }, 90_000);
});
