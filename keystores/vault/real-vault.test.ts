/**
 * The keystore contract against a real Vault. Where: VAULT_ADDR and VAULT_TOKEN when
 * set (any Vault or OpenBao; the token must be allowed to mount engines, write policies
 * and create tokens; VAULT_NAMESPACE and VAULT_CACERT are honoured). Otherwise the real
 * Vault v1.4.0 the workplace keeps beside the repository (`../shared/tools/vault`) is
 * started as a dev server on a free loopback port for this file, and stopped after it.
 * With neither, the file skips with one line. Everything created is named
 * `keygate-test-<random>-…` and removed afterwards.
 *
 *   VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root npx vitest run keystores/vault/real-vault
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keystoreContract } from '../contract.js';
import { StoreError } from '../keystore.js';
import { VaultKeyStore, type VaultOptions } from './index.js';
import { VaultAdmin } from './testing.js';
import { spawnTracked } from '../../test/helpers/processes.js';
import { freePort } from '../../test/hardening/server-process.js';

const root = new URL('../../', import.meta.url).pathname;
/** A tool, not test data: the workplace's real Vault, when this checkout sits beside it. */
const bundledVault = join(root, '..', 'shared', 'tools', 'vault');
const given = process.env['VAULT_ADDR']?.replace(/\/+$/, '') ?? '';
const useGiven = given !== '' && (process.env['VAULT_TOKEN'] ?? '') !== '';
const enabled = useGiven || existsSync(bundledVault);
if (!enabled) console.info('vault: no VAULT_ADDR/VAULT_TOKEN and no ../shared/tools/vault; skipping the tests against a real Vault');

(enabled ? describe : describe.skip)('real Vault', () => {
  const target = { addr: given, token: process.env['VAULT_TOKEN'] ?? '', namespace: useGiven ? (process.env['VAULT_NAMESPACE'] ?? '') : '' };
  const caFile = useGiven ? process.env['VAULT_CACERT'] : undefined;
  const run = randomBytes(4).toString('hex');
  let admin: VaultAdmin;
  let count = 0;
  const common = (): Pick<VaultOptions, 'endpoint' | 'namespace' | 'tls'> => ({
    endpoint: target.addr,
    namespace: target.namespace,
    ...(caFile !== undefined && { tls: { ca: [readFileSync(caFile)] } }),
  });

  beforeAll(async () => {
    if (!useGiven) {
      const port = await freePort();
      const vault = spawnTracked(bundledVault, ['server', '-dev', '-dev-root-token-id=root', `-dev-listen-address=127.0.0.1:${port}`], {}, 'file');
      await vault.waitFor(/Vault server started!/, 'stdout');
      Object.assign(target, { addr: `http://127.0.0.1:${port}`, token: 'root' });
      console.info(`vault: testing against Vault v1.4.0 (../shared/tools/vault) at ${target.addr}`);
    }
    admin = new VaultAdmin(target.addr, target.token, target.namespace);
  }, 120_000);

  afterAll(async () => {
    // Contract cleanups remove what each store used; this catches anything a failed setup left.
    const mounts = await admin.request('GET', 'sys/mounts');
    for (const path of Object.keys(mounts.body?.data ?? {})) {
      if (path.startsWith(`keygate-test-${run}-`)) await admin.request('DELETE', `sys/mounts/${path}`);
    }
  });

  /** A fresh mount, keygate's minimal policy and a token with only that policy. */
  async function fresh(version: 'v1' | 'v2'): Promise<{ store: VaultKeyStore; cleanup: () => Promise<void> }> {
    const engine = `keygate-test-${run}-${++count}`;
    await admin.mountKV(engine, version);
    await admin.keygatePolicy(engine, { version, engine, prefix: 'keygate' });
    const scoped = await admin.createToken([engine], '1h');
    const store = await VaultKeyStore.connect({ ...common(), engine, version, prefix: 'keygate', auth: { kind: 'token', token: scoped } });
    return {
      store,
      cleanup: async () => {
        await admin.request('DELETE', `sys/mounts/${engine}`);
        await admin.request('DELETE', `sys/policies/acl/${engine}`);
        await admin.request('POST', 'auth/token/revoke', { token: scoped });
      },
    };
  }

  keystoreContract('real vault kv v1', () => fresh('v1'));
  keystoreContract('real vault kv v2', () => fresh('v2'));

  it('answers status() from sys/health, and refuses a made-up token with a clear StoreError', async () => {
    const { store, cleanup } = await fresh('v2');
    try {
      expect((await store.status()).latencyMs).toBeGreaterThanOrEqual(0);
    } finally {
      await store.close();
      await cleanup();
    }
    await expect(VaultKeyStore.connect({ ...common(), version: 'v2', auth: { kind: 'token', token: 'hvs.made-up' } })).rejects.toBeInstanceOf(StoreError);
  });
});
