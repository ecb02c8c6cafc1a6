/**
 * The keystore contract against Vault, once per configuration axis: KV v1 and
 * v2, with and without a prefix, in a namespace, and with token, AppRole and
 * Kubernetes authentication. Every store runs with keygate's minimal policy
 * only, so the suite also proves that policy is enough.
 *
 * In the project 'in process' this is the project's Vault test server; in the
 * project 'real Vault' a real Vault dev server (test/vault/under-test.ts), where
 * the namespace axis runs without a namespace (Vault OSS has none) and
 * Kubernetes logins are reviewed by a TokenReview API the test provides.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { REAL_VAULT, startVault, type VaultUnderTest } from '../../test/vault/under-test.js';
import { keystoreContract, type MakeStore } from '../contract.js';
import { VaultKeyStore, type VaultAuth } from './index.js';
import { VaultAdmin, type ServiceAccountIssuer } from './testing.js';

let vault: VaultUnderTest;
let root: VaultAdmin;
let dir: string;
let issuer: ServiceAccountIssuer;
/** Vault OSS (the real Vault of the tests) has no namespaces. */
const NAMESPACE = REAL_VAULT ? undefined : 'team1';

beforeAll(async () => {
  vault = await startVault();
  root = vault.admin();
  dir = await mkdtemp(join(tmpdir(), 'keygate-vault-'));
  await root.enableAuth('approle', 'approle');
  if (NAMESPACE !== undefined) await root.createNamespace(NAMESPACE);
  const team = NAMESPACE === undefined ? root : root.in(NAMESPACE);
  await team.enableAuth('k8s', 'kubernetes');
  issuer = await team.kubernetes('k8s', 'unused', [], 'keygate', 'keygate-system');
});

afterAll(async () => {
  await vault?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Setup {
  version: 'v1' | 'v2';
  prefix?: string;
  namespace?: string;
  auth: VaultAuth['kind'];
}

let made = 0;

/** Each store gets its own fresh mount, policy and credentials. */
function vaultStore(setup: Setup): MakeStore {
  return async () => {
    const n = ++made;
    const engine = `kv${n}`;
    const admin = setup.namespace === undefined ? root : root.in(setup.namespace);
    await admin.mountKV(engine, setup.version);
    const policy = `keygate-${n}`;
    await admin.keygatePolicy(policy, { version: setup.version, engine, ...(setup.prefix !== undefined && { prefix: setup.prefix }) });
    let auth: VaultAuth;
    switch (setup.auth) {
      case 'token':
        auth = { kind: 'token', token: await admin.createToken([policy]) };
        break;
      case 'approle':
        auth = { kind: 'approle', engine: 'approle', ...(await admin.appRole('approle', policy, [policy])) };
        break;
      case 'kubernetes': {
        await admin.ok('POST', `auth/k8s/role/${policy}`, {
          bound_service_account_names: ['keygate'],
          bound_service_account_namespaces: ['keygate-system'],
          token_policies: [policy],
        });
        const file = join(dir, `token-${n}`);
        await writeFile(file, issuer.jwt('keygate-system', 'keygate'));
        auth = { kind: 'kubernetes', engine: 'k8s', role: policy, jwt: file };
        break;
      }
    }
    const store = await VaultKeyStore.connect({
      endpoint: vault.url,
      engine,
      version: setup.version,
      auth,
      ...(setup.prefix !== undefined && { prefix: setup.prefix }),
      ...(setup.namespace !== undefined && { namespace: setup.namespace }),
    });
    return { store, cleanup: async () => void (await admin.ok('DELETE', `sys/mounts/${engine}`)) };
  };
}

keystoreContract('vault kv v1, token, no prefix', vaultStore({ version: 'v1', auth: 'token' }));
keystoreContract('vault kv v2, token, no prefix', vaultStore({ version: 'v2', auth: 'token' }));
keystoreContract('vault kv v1, approle, prefix tenant-a/keys', vaultStore({ version: 'v1', auth: 'approle', prefix: 'tenant-a/keys' }));
keystoreContract(
  `vault kv v2, kubernetes (jwt file), prefix keygate, namespace ${NAMESPACE ?? '(none: Vault OSS)'}`,
  vaultStore({ version: 'v2', auth: 'kubernetes', prefix: 'keygate', ...(NAMESPACE !== undefined && { namespace: NAMESPACE }) }),
);
