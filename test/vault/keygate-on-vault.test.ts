/**
 * keygate on the Vault keystore, end to end: the README's setup commands run as
 * written against Vault, then real keygate servers on it — tenants isolated by
 * prefix and by namespace, replicas sharing one Vault, and Vault faults
 * (sealing, expired tokens, latency) with recovery.
 *
 * Runs against the project's Vault test server and, in the project 'real Vault',
 * against a real Vault dev server (test/vault/under-test.ts): there namespaces
 * (Vault OSS has none) and injected failures are skipped, tokens are revoked
 * instead of expired, and sealing is Vault's own sys/seal and sys/unseal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToEnd } from '../helpers/processes.js';
import { readFileSync } from 'node:fs';
import { REAL_VAULT, startVault, testServerOnly, type VaultUnderTest } from './under-test.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { parseConfig } from '../../src/config/load.js';

const root = new URL('../../', import.meta.url).pathname;
let vault: VaultUnderTest;
const servers: TestServer[] = [];

beforeAll(async () => {
  vault = await startVault({ rootToken: 'root' });
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await vault.close();
});

/**
 * The README's "Use with Vault" setup block, run by bash against the test server
 * (asynchronously: the Vault test server answers from this very event loop).
 */
async function runReadmeSetup(): Promise<{ roleId: string; secretId: string }> {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const block = /<!-- vault-setup:start -->\s*```sh\n([\s\S]*?)```\s*<!-- vault-setup:end -->/.exec(readme)?.[1];
  expect(block, 'README has the vault-setup block').toBeDefined();
  const script = (block as string).replace('http://127.0.0.1:8200', vault.url) + '\necho "$VAULT_ROLE_ID $VAULT_SECRET_ID"\n';
  // No clock of its own: the test's timeout bounds it, and the helper kills the group after the test.
  const { code, stdout, stderr } = await runToEnd('bash', ['-euo', 'pipefail', '-c', script]);
  expect(code, stderr).toBe(0);
  const out = stdout.trim().split('\n').pop() as string;
  const [roleId, secretId] = out.split(' ');
  return { roleId: roleId as string, secretId: secretId as string };
}

async function keygateOn(keystore: Record<string, unknown>, extra: Record<string, unknown> = {}, pki?: TestPki): Promise<TestServer> {
  const s = await startTestServer({ config: { keystore, ...extra }, ...(pki ? { pki } : {}) });
  servers.push(s);
  return s;
}

describe('the README walkthrough', () => {
  it('sets Vault up with curl, and keygate creates a key and a data key on it', async () => {
    const { roleId, secretId } = await runReadmeSetup();
    expect(roleId).toMatch(/\S{8,}/);
    const pki = new TestPki();
    const example = parseConfig(readFileSync(`${root}config.vault.example.yml`, 'utf8'), 'config.vault.example.yml', {
      KEYGATE_ADMIN_IDENTITY: 'a'.repeat(64),
      VAULT_ADDR: vault.url,
      VAULT_ROLE_ID: roleId,
      VAULT_SECRET_ID: secretId,
    });
    const s = await keygateOn(example.keystore as Record<string, unknown>, { cache: example.cache }, pki);
    expect((await s.call(s.admin, '/v1/key/create/vault-key', { method: 'PUT' })).status).toBe(200);
    const dek = await s.call(s.admin, '/v1/key/generate/vault-key', { method: 'PUT' });
    expect(dek.status).toBe(200);
    expect((await s.call(s.admin, '/v1/ready')).status).toBe(200);
    // The entry sits where the README says: kv/data/keygate/<name> (with its generation beside it).
    const stored = await new VaultAdmin(vault.url, 'root').ok('GET', 'kv/data/keygate/vault-key');
    expect(Object.keys(stored.data.data).sort()).toEqual(['keygate:gen', 'vault-key']);
  });
});

/** A tenant: its own mount prefix (and namespace), policy and AppRole. */
async function tenant(name: string, opts: { namespace?: string; mount: string }): Promise<Record<string, unknown>> {
  let admin = new VaultAdmin(vault.url, 'root');
  if (opts.namespace) admin = admin.in(opts.namespace);
  await admin.keygatePolicy(`keygate-${name}`, { version: 'v2', engine: opts.mount, prefix: name });
  const creds = await admin.appRole('approle', `keygate-${name}`, [`keygate-${name}`]);
  return {
    vault: {
      endpoint: vault.url,
      engine: opts.mount,
      version: 'v2',
      prefix: name,
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      approle: { id: creds.roleId, secret: creds.secretId },
    },
  };
}

describe('multi-tenancy', () => {
  beforeAll(async () => {
    const admin = new VaultAdmin(vault.url, 'root');
    await admin.mountKV('shared', 'v2');
    const approle = await admin.request('GET', 'sys/auth');
    if (!JSON.stringify(approle.body).includes('approle/')) await admin.enableAuth('approle', 'approle');
    for (const ns of REAL_VAULT ? [] : ['tenant-x', 'tenant-y']) {
      await admin.createNamespace(ns);
      await admin.in(ns).mountKV('kv', 'v2');
      await admin.in(ns).enableAuth('approle', 'approle');
    }
  });

  async function isolated(a: TestServer, b: TestServer): Promise<void> {
    for (const s of [a, b]) expect((await s.call(s.admin, '/v1/key/create/same-name', { method: 'PUT' })).status).toBe(200);
    expect((await a.call(a.admin, '/v1/key/create/only-a', { method: 'PUT' })).status).toBe(200);
    const fromB = await b.call(b.admin, '/v1/key/list/*');
    expect(fromB.json.names).toEqual(['same-name']);
    expect((await b.call(b.admin, '/v1/key/describe/only-a')).status).toBe(404);
    expect((await b.call(b.admin, '/v1/key/delete/only-a', { method: 'DELETE' })).status).toBe(404);
    expect((await a.call(a.admin, '/v1/key/describe/only-a')).status).toBe(200);
    // Same name, different keys: a ciphertext of A does not decrypt on B.
    const dek = await a.call(a.admin, '/v1/key/generate/same-name', { method: 'PUT' });
    expect((await b.call(b.admin, '/v1/key/decrypt/same-name', { method: 'PUT', body: { ciphertext: dek.json.ciphertext } })).status).toBe(400);
  }

  it("by prefix: neither tenant reads, lists or deletes the other's keys, through keygate or with its own Vault token", async () => {
    const ka = await tenant('alpha', { mount: 'shared' });
    const kb = await tenant('beta', { mount: 'shared' });
    const a = await keygateOn(ka);
    const b = await keygateOn(kb);
    await isolated(a, b);
    // With beta's own Vault credentials, alpha's path is forbidden.
    const v = kb['vault'] as { approle: { id: string; secret: string } };
    const login = await new VaultAdmin(vault.url, '').ok('POST', 'auth/approle/login', { role_id: v.approle.id, secret_id: v.approle.secret });
    const betaToken = login.auth.client_token as string;
    const admin = new VaultAdmin(vault.url, betaToken);
    expect((await admin.request('GET', 'shared/data/alpha/only-a', undefined, betaToken)).status).toBe(403);
    expect((await admin.request('LIST', 'shared/metadata/alpha/', undefined, betaToken)).status).toBe(403);
    expect((await admin.request('DELETE', 'shared/metadata/alpha/only-a', undefined, betaToken)).status).toBe(403);
  });

  testServerOnly('Vault OSS has no namespaces; keygate refuses them there, see namespaces.test.ts')(
    'by namespace: the same prefix in two namespaces never meets',
    async () => {
      const a = await keygateOn(await tenant('app', { namespace: 'tenant-x', mount: 'kv' }));
      const b = await keygateOn(await tenant('app', { namespace: 'tenant-y', mount: 'kv' }));
      await isolated(a, b);
    },
  );
});

describe('readiness', () => {
  it('is not ready with the AppRole of another tenant, and says why in /v1/ready, /v1/status and one start-up log line', async () => {
    const admin = new VaultAdmin(vault.url, 'root');
    await admin.mountKV('denied', 'v2');
    const approle = await admin.request('GET', 'sys/auth');
    if (!JSON.stringify(approle.body).includes('approle/')) await admin.enableAuth('approle', 'approle');
    // The policy is for tenant 'other'; keygate is configured for tenant 'mine'.
    await admin.keygatePolicy('keygate-other', { version: 'v2', engine: 'denied', prefix: 'other' });
    const creds = await admin.appRole('approle', 'keygate-other', ['keygate-other']);
    const s = await keygateOn({
      vault: { endpoint: vault.url, engine: 'denied', version: 'v2', prefix: 'mine', approle: { id: creds.roleId, secret: creds.secretId } },
    });
    const why =
      'key store denies access: permission denied on denied/data/mine/*: missing create, read, update; on denied/metadata/mine/*: missing list, delete';
    const ready = await s.call(s.admin, '/v1/ready');
    expect(ready.status).toBe(502);
    expect(ready.json).toEqual({ message: why });
    const status = await s.call(s.admin, '/v1/status');
    expect(status.status).toBe(502);
    expect(status.json).toEqual({ message: why });
    // One line at start-up (the failed probes above log their own, naming the request).
    const line = s.logLines.filter((l) => l.includes('"message":"vault: permission denied on denied/data/mine/*'));
    expect(line, s.logLines.join('\n')).toHaveLength(1);
    expect(line[0]).toContain("keygate is not ready until the token's policies grant it");
    // With its own tenant's policy, the same set-up is ready.
    await admin.keygatePolicy('keygate-other', { version: 'v2', engine: 'denied', prefix: 'mine' });
    expect((await s.call(s.admin, '/v1/ready')).status).toBe(200);
    expect((await s.call(s.admin, '/v1/key/create/now-allowed', { method: 'PUT' })).status).toBe(200);
  });
});

describe('replicas sharing one Vault', () => {
  it("see each other's keys, stop serving a deleted key within the cache expiry, and race creates to one winner", async () => {
    const admin = new VaultAdmin(vault.url, 'root');
    await admin.mountKV('replicas', 'v2');
    const token = await admin.createToken(['root']);
    const keystore = { vault: { endpoint: vault.url, engine: 'replicas', version: 'v2', token } };
    const cache = { expiry: { any: '1s', unused: '1s', offline: '0s' } };
    const pki = new TestPki();
    const a = await keygateOn(keystore, { cache }, pki);
    const b = await keygateOn(keystore, { cache, admin: { identity: a.admin.identity } }, pki);

    expect((await a.call(a.admin, '/v1/key/create/shared', { method: 'PUT' })).status).toBe(200);
    const dek = await a.call(a.admin, '/v1/key/generate/shared', { method: 'PUT' });
    const onB = await b.call(a.admin, '/v1/key/decrypt/shared', { method: 'PUT', body: { ciphertext: dek.json.ciphertext } });
    expect(onB.json.plaintext).toBe(dek.json.plaintext);

    expect((await a.call(a.admin, '/v1/key/delete/shared', { method: 'DELETE' })).status).toBe(200);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      status = (await b.call(a.admin, '/v1/key/generate/shared', { method: 'PUT' })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(404);

    for (let round = 0; round < 5; round++) {
      const results = await Promise.all([
        a.call(a.admin, `/v1/key/create/race-${round}`, { method: 'PUT' }),
        b.call(a.admin, `/v1/key/create/race-${round}`, { method: 'PUT' }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    }
  });
});

/**
 * Every token but the root token stops working: the test server expires them; a real Vault
 * revokes each by its accessor (what an operator's `vault token revoke` does).
 */
async function expireAllTokens(): Promise<void> {
  if (vault.server) return void vault.server.faults.expireAllTokens();
  const admin = new VaultAdmin(vault.url, 'root');
  const own = (await admin.ok('GET', 'auth/token/lookup-self')).data.accessor as string;
  const accessors = (await admin.ok('LIST', 'auth/token/accessors')).data.keys as string[];
  for (const accessor of accessors) if (accessor !== own) await admin.ok('POST', 'auth/token/revoke-accessor', { accessor });
}

describe('faults', () => {
  let s: TestServer;
  beforeAll(async () => {
    const admin = new VaultAdmin(vault.url, 'root');
    await admin.mountKV('faults', 'v2');
    await admin.keygatePolicy('keygate-faults', { version: 'v2', engine: 'faults', prefix: '' });
    const creds = await admin.appRole('approle', 'keygate-faults', ['keygate-faults'], '1h');
    s = await keygateOn(
      {
        vault: {
          endpoint: vault.url,
          engine: 'faults',
          version: 'v2',
          approle: creds ? { id: creds.roleId, secret: creds.secretId } : {},
          status: { ping: '1s' },
          timeout: '2s',
        },
      },
      { cache: { expiry: { any: '1s', unused: '1s', offline: '1m' } } },
    );
  });

  it('logs in again when the token expires mid-run, without failing a request', async () => {
    expect((await s.call(s.admin, '/v1/key/create/before-expiry', { method: 'PUT' })).status).toBe(200);
    await expireAllTokens();
    expect((await s.call(s.admin, '/v1/key/create/after-expiry', { method: 'PUT' })).status).toBe(200);
    expect((await s.call(s.admin, '/v1/key/list/*')).json.names).toEqual(expect.arrayContaining(['before-expiry', 'after-expiry']));
  });

  it('while sealed: not ready, cached keys still serve within the offline window, new work fails fast; recovers when unsealed', async () => {
    expect((await s.call(s.admin, '/v1/key/create/warm', { method: 'PUT' })).status).toBe(200);
    const dek = await s.call(s.admin, '/v1/key/generate/warm', { method: 'PUT' });
    await vault.seal();
    let ready = 200;
    for (let i = 0; i < 50 && ready === 200; i++) {
      ready = (await s.call(s.admin, '/v1/ready')).status;
      if (ready === 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready).toBe(504);
    await new Promise((r) => setTimeout(r, 1100)); // past cache.expiry.any: only the offline window serves now
    const cached = await s.call(s.admin, '/v1/key/decrypt/warm', { method: 'PUT', body: { ciphertext: dek.json.ciphertext } });
    expect(cached.status).toBe(200);
    expect(cached.json.plaintext).toBe(dek.json.plaintext);
    const write = await s.call(s.admin, '/v1/key/create/while-sealed', { method: 'PUT' });
    expect(write.status).toBe(503);
    expect(write.json).toEqual({ message: 'key store is not reachable' });
    expect((await s.call(s.admin, '/v1/key/describe/never-cached')).status).toBe(503);

    await vault.unseal();
    let back = 503;
    for (let i = 0; i < 100 && back !== 200; i++) {
      back = (await s.call(s.admin, '/v1/key/create/after-unseal', { method: 'PUT' })).status;
      if (back !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back).toBe(200);
    expect((await s.call(s.admin, '/v1/ready')).status).toBe(200);
    expect((await s.call(s.admin, '/v1/key/describe/while-sealed')).status).toBe(404);
  });

  testServerOnly('injects 500s and latency')('answers cleanly while Vault fails or is slow, and loses no acknowledged write', async () => {
    const faults = vault.server?.faults;
    if (faults === undefined) throw new Error('test server only');
    const acknowledged: string[] = [];
    faults.failNext(3, 500);
    for (let i = 0; i < 10; i++) {
      const r = await s.call(s.admin, `/v1/key/create/flaky-${i}`, { method: 'PUT' });
      expect([200, 502, 503]).toContain(r.status);
      if (r.status === 200) acknowledged.push(`flaky-${i}`);
      else expect(r.json.message).toMatch(/^(failed to create key|key store is not reachable)$/);
    }
    faults.latencyMs = 3000; // beyond the 2 s timeout: a clean error, not a hang
    const slow = await s.call(s.admin, '/v1/key/create/slow', { method: 'PUT' });
    expect([502, 503]).toContain(slow.status);
    faults.latencyMs = 0;
    // The timeout marked Vault unreachable: requests fail fast until the next health probe succeeds.
    let listed = 503;
    for (let i = 0; i < 100 && listed !== 200; i++) {
      listed = (await s.call(s.admin, '/v1/key/list/flaky-*')).status;
      if (listed !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toBe(200);
    const names = new Set<string>();
    let cursor = '';
    do {
      const page = await s.call(s.admin, `/v1/key/list/flaky-*${cursor ? `?continue_at=${cursor}` : ''}`);
      page.json.names.forEach((n: string) => names.add(n));
      cursor = page.json.continue_at ?? '';
    } while (cursor);
    for (const n of acknowledged) expect(names.has(n), n).toBe(true);
    expect(acknowledged.length).toBeGreaterThanOrEqual(7);
  });
});
