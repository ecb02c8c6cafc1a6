/**
 * The keystore contract against a Vault of your own: VAULT_ADDR and VAULT_TOKEN (any
 * Vault or OpenBao; the token must be allowed to mount engines, write policies and
 * create tokens; VAULT_NAMESPACE and VAULT_CACERT are honoured). Without them the file
 * skips with one line: the project 'real Vault' (vitest.config.ts) already runs every
 * Vault test file against ../shared/tools/vault. Everything created is named
 * `keygate-test-<random>-…` and removed afterwards.
 *
 *   VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root npx vitest run keystores/vault/real-vault
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keystoreContract } from '../contract.js';
import { StoreError } from '../keystore.js';
import { VaultKeyStore, type VaultOptions } from './index.js';
import { VaultAdmin } from './testing.js';

const given = process.env['VAULT_ADDR']?.replace(/\/+$/, '') ?? '';
const enabled = given !== '' && (process.env['VAULT_TOKEN'] ?? '') !== '';
if (!enabled) console.info("vault: no VAULT_ADDR/VAULT_TOKEN: the contract against your own Vault is skipped (the project 'real Vault' runs the Vault tests)");

(enabled ? describe : describe.skip)('real Vault', () => {
  const target = { addr: given, token: process.env['VAULT_TOKEN'] ?? '', namespace: process.env['VAULT_NAMESPACE'] ?? '' };
  const caFile = process.env['VAULT_CACERT'];
  const run = randomBytes(4).toString('hex');
  let admin: VaultAdmin;
  let count = 0;
  const common = (): Pick<VaultOptions, 'endpoint' | 'namespace' | 'tls'> => ({
    endpoint: target.addr,
    namespace: target.namespace,
    ...(caFile !== undefined && { tls: { ca: [readFileSync(caFile)] } }),
  });

  beforeAll(async () => {
    admin = new VaultAdmin(target.addr, target.token, target.namespace);
  });

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
