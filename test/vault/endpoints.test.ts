/**
 * `keystore.vault.endpoints` from the configuration file to the keystore: validated by the
 * schema, and a keygate whose first Vault node is down starts and serves through the
 * next one (against the project's Vault test server; the real 3-node cluster is
 * test/vault/raft-ha.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { startVaultTestServer, type VaultTestServer } from '../vault-server/index.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { startTestServer } from '../helpers/server.js';
import { freePort } from '../helpers/ports.js';

const config = (vault: string): string =>
  `admin:\n  identity: ${'a'.repeat(64)}\ntls:\n  key: k.pem\n  cert: c.pem\nkeystore:\n  vault:\n    endpoint: http://127.0.0.1:8200\n    token: t\n${vault}`;

describe('keystore.vault.endpoints in the configuration', () => {
  it('is a list of the other nodes', () => {
    const c = parseConfig(config('    endpoints: [http://127.0.0.1:8201, http://127.0.0.1:8202]\n'), 'cfg.yml', {});
    expect(c.keystore.vault?.endpoints).toEqual(['http://127.0.0.1:8201', 'http://127.0.0.1:8202']);
  });

  it.each([
    ['    endpoints: http://127.0.0.1:8201\n', /cfg\.yml:\d+: keystore\.vault\.endpoints: must be array/],
    ['    endpoints: []\n', /keystore\.vault\.endpoints: must NOT have fewer than 1 items/],
    ['    endpoints: [ftp://127.0.0.1:8201]\n', /cfg\.yml:\d+: keystore\.vault\.endpoints\[0\]: invalid value "ftp:\/\/127\.0\.0\.1:8201"/],
    ['    endpoints: [http://a:1, http://a:1]\n', /keystore\.vault\.endpoints: must NOT have duplicate items/],
  ])('refuses %j', (text, message) => {
    expect(() => parseConfig(config(text), 'cfg.yml', {})).toThrow(ConfigError);
    expect(() => parseConfig(config(text), 'cfg.yml', {})).toThrow(message);
  });
});

describe('a keygate whose first Vault node is down', () => {
  let vault: VaultTestServer;
  let token: string;
  beforeAll(async () => {
    vault = await startVaultTestServer({ rootToken: 'root' });
    const admin = new VaultAdmin(vault.url, 'root');
    await admin.mountKV('kv', 'v2');
    await admin.keygatePolicy('keygate', { version: 'v2', engine: 'kv', prefix: 'ha' });
    token = await admin.createToken(['keygate'], '1h');
  });
  afterAll(async () => {
    await vault.close();
  });

  it('starts and serves through the next endpoint; with the down node alone it does not start', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const keystore = (endpoints?: string[]) => ({
      vault: { endpoint: down, ...(endpoints && { endpoints }), engine: 'kv', version: 'v2', prefix: 'ha', token },
    });
    await expect(startTestServer({ config: { keystore: keystore() } })).rejects.toThrow(/ECONNREFUSED/);
    const s = await startTestServer({ config: { keystore: keystore([vault.url]) } });
    try {
      expect((await s.call(s.admin, '/v1/key/create/ha-key', { method: 'PUT' })).status).toBe(200);
      expect((await s.call(s.admin, '/v1/ready')).status).toBe(200);
      expect((await new VaultAdmin(vault.url, 'root').request('GET', 'kv/data/ha/ha-key')).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
