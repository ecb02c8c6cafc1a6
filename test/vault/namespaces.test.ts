/**
 * Namespace safety (issue 14): Vault OSS ignores `X-Vault-Namespace`, so two keygates
 * configured with `namespace: team1` and `namespace: team2` would share every key.
 * keygate proves at start (and whenever a reload opens the keystore anew) that the
 * server honours the namespaces it was given, and refuses to start when it does not.
 *
 * Against the project's test server in its 'vault-ce' flavour (no namespaces, like OSS)
 * and, in the project 'real Vault', against real Vault 1.4 OSS; the test server's
 * Enterprise-like flavour shows that an honoured namespace starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../keystores/keystore.js';
import { VaultKeyStore, type VaultOptions } from '../../keystores/vault/index.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { startVaultTestServer } from '../vault-server/index.js';
import { startTestServer } from '../helpers/server.js';
import { parseConfig } from '../../src/config/load.js';
import { stringify } from 'yaml';
import { startVault, testServerOnly, type VaultUnderTest } from './under-test.js';

let vault: VaultUnderTest;
let root: VaultAdmin;
let token: string;
let approle: { roleId: string; secretId: string };
const logged: string[] = [];

beforeAll(async () => {
  vault = await startVault({ flavor: 'vault-ce' });
  root = vault.admin();
  await root.mountKV('kv', 'v2');
  await root.keygatePolicy('keygate', { version: 'v2', engine: 'kv', prefix: 'keygate' });
  token = await root.createToken(['keygate']);
  await root.enableAuth('approle', 'approle');
  approle = await root.appRole('approle', 'keygate', ['keygate']);
});
afterAll(async () => {
  await vault?.close();
});

const IGNORED =
  /^vault: http:\/\/127\.0\.0\.1:\d+ ignores namespaces \((auth )?namespace 'team1' is not isolated; Vault OSS has none\): separate tenants with 'prefix' and a policy each, or use a Vault with namespaces \(Vault Enterprise, OpenBao 2\.3\+\)$/;

function options(extra: Partial<VaultOptions>): VaultOptions {
  return {
    endpoint: vault.url,
    engine: 'kv',
    version: 'v2',
    prefix: 'keygate',
    auth: { kind: 'token', token },
    log: (level, m) => logged.push(`${level} ${m}`),
    ...extra,
  };
}

describe('a Vault that ignores namespaces', () => {
  it('refuses a keystore namespace, and leaves no probe entry behind', async () => {
    const err = await VaultKeyStore.connect(options({ namespace: 'team1' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(IGNORED);
    // The probe entry was written (the namespace landed in the root) and removed again.
    const listed = await root.request('LIST', 'kv/metadata/keygate/');
    expect(listed.status === 404 || (listed.body.data.keys as string[]).length === 0).toBe(true);
    // Without a namespace the same credentials serve.
    const store = await VaultKeyStore.connect(options({}));
    await store.create('k', Buffer.from('v'));
    await store.close();
  });

  it('refuses an auth namespace (AppRole logged in "in" team1, served from the root)', async () => {
    const err = await VaultKeyStore.connect(options({ auth: { kind: 'approle', engine: 'approle', namespace: 'team1', ...approle } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(IGNORED);
    expect((err as Error).message).toContain("auth namespace 'team1'");
  });

  it('keeps keygate from starting with namespace set, naming the fix', async () => {
    const err = await startTestServer({
      config: { keystore: { vault: { endpoint: vault.url, engine: 'kv', version: 'v2', prefix: 'keygate', namespace: 'team1', token } } },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/ignores namespaces .*'prefix'.*Vault Enterprise, OpenBao 2\.3\+/);
  });

  it('refuses a reload that adds a namespace, and keeps serving with the configuration it has', async () => {
    const keystore = (extra: Record<string, unknown>) => ({ vault: { endpoint: vault.url, engine: 'kv', version: 'v2', prefix: 'keygate', token, ...extra } });
    const s = await startTestServer({ config: { keystore: keystore({}) } });
    try {
      expect((await s.call(s.admin, '/v1/key/create/before-reload', { method: 'PUT' })).status).toBe(200);
      const next = parseConfig(
        stringify({
          address: '127.0.0.1:0',
          admin: { identity: s.admin.identity },
          tls: { key: s.pki.serverKeyFile, cert: s.pki.serverCertFile },
          keystore: keystore({ namespace: 'team1' }),
        }),
        'reload.yml',
      );
      await expect(s.running.reload(next)).rejects.toThrow(/ignores namespaces .*'prefix'/);
      expect((await s.call(s.admin, '/v1/key/describe/before-reload')).status).toBe(200);
      expect((await s.call(s.admin, '/v1/ready')).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('a Vault with namespaces', () => {
  testServerOnly('Vault OSS has no namespaces')('starts with keystore and auth namespaces it honours, and removes its probe', async () => {
    const ent = await startVaultTestServer({ flavor: 'vault' });
    try {
      const admin = new VaultAdmin(ent.url, ent.rootToken);
      for (const ns of ['team1', 'team2']) {
        await admin.createNamespace(ns);
        await admin.in(ns).mountKV('kv', 'v2');
        await admin.in(ns).keygatePolicy('keygate', { version: 'v2', engine: 'kv', prefix: 'keygate' });
        await admin.in(ns).enableAuth('approle', 'approle');
      }
      const t1 = await admin.in('team1').createToken(['keygate']);
      const a = await VaultKeyStore.connect({
        endpoint: ent.url,
        engine: 'kv',
        version: 'v2',
        prefix: 'keygate',
        namespace: 'team1',
        auth: { kind: 'token', token: t1 },
      });
      const creds = await admin.in('team2').appRole('approle', 'keygate', ['keygate']);
      const b = await VaultKeyStore.connect({
        endpoint: ent.url,
        engine: 'kv',
        version: 'v2',
        prefix: 'keygate',
        namespace: 'team2',
        auth: { kind: 'approle', engine: 'approle', namespace: 'team2', ...creds },
      });
      await a.create('same', Buffer.from('a'));
      await b.create('same', Buffer.from('b'));
      expect((await a.get('same')).value.toString()).toBe('a');
      expect((await b.get('same')).value.toString()).toBe('b');
      expect((await a.list('', '', 10)).names).toEqual(['same']);
      const keys = (await admin.in('team1').ok('LIST', 'kv/metadata/keygate/')).data.keys as string[];
      expect(keys).toEqual(['same']);
      await a.close();
      await b.close();
    } finally {
      await ent.close();
    }
  });
});
