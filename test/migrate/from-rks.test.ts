/**
 * `migrate --from-rks`: an RKS deployment's Vault, written as RKS writes it (KV v2 at `rks/`,
 * group tokens minted through a token role with `groupname` metadata and stored in clear),
 * imported into an fs keystore; keygate then serves it, and a node registers with the group
 * token it was provisioned with under RKS and reads its secret.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FSKeyStore } from '../../keystores/fs.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { importFromRks } from '../../src/migrate/rks.js';
import { startVaultTestServer, type VaultTestServer } from '../vault-server/index.js';
import { BundleCerts, pemBodyLines } from '../helpers/bundle-certs.js';
import { dump } from '../helpers/fleet.js';
import { expectJSON, startRks, type RksClient } from '../rks/support.js';

const certs = new BundleCerts();
const www = certs.bundle({ dnsNames: ['www.example.com'] });
const img = certs.bundle({ dnsNames: ['img.example.com'] });
const expired = certs.expiringIn(-1, { dnsNames: ['old.example.com'] });

let dir: string;
let vault: VaultTestServer;
let root: VaultAdmin;
const tokens: Record<string, string> = {};

/** What RKS's createGroup does in Vault (rks.md §3.3–3.4), then its KV writes. */
async function rksCreateGroup(g: string, regInfo: Record<string, string>, secrets: string[]): Promise<void> {
  await root.writePolicy(`addToken-${g}`, `path "rks/data/groups/${g}/*" { capabilities = ["create", "update", "read"] }`);
  // RKS goes through token role addToken-<g> (orphan, periodic 31 days, no default policy);
  // the test server has no token roles, so the same token is asked for directly.
  const created = await root.ok('POST', 'auth/token/create-orphan', {
    meta: { groupname: g },
    policies: [`addToken-${g}`],
    period: '744h',
    no_default_policy: true,
  });
  tokens[g] = created.auth.client_token as string;
  await root.ok('POST', `rks/data/groups/${g}/config`, { data: regInfo });
  await root.ok('POST', `rks/data/groups/${g}/grouptoken`, { data: { groupToken: tokens[g] } });
  await root.ok('POST', `rks/data/groups/${g}/secret-list`, { data: { secrets }, options: { cas: 0 } });
}

async function rksSecret(fqdn: string, data: Record<string, unknown>): Promise<void> {
  await root.ok('POST', `rks/data/${fqdn}`, { data });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keygate-from-rks-'));
  vault = await startVaultTestServer();
  root = new VaultAdmin(vault.url, vault.rootToken);
  // POST /rks/v1/init: the KV v2 mount and RKS's config (admin password in clear).
  await root.mountKV('rks', 'v2');
  await root.ok('POST', 'rks/data/config', { data: { VaultAddr: vault.url, AdminLogin: 'admin', AdminPwd: 'rks-admin-password', VaultInitialized: true } });
  await rksSecret('www.example.com', { meta: { ttl: 300 }, certificate: www.chainPem, private_key: www.keyPem });
  await rksSecret('img.example.com', { meta: { ttl: 600 }, certificate: img.chainPem, private_key: img.keyPem });
  // RKS never validated anything: its test suite stores 'test' as certificate and key.
  await rksSecret('test.example.com', { meta: { ttl: 60 }, certificate: 'test', private_key: 'test' });
  await rksSecret('nokey.example.com', { meta: { ttl: 60 }, certificate: www.chainPem, private_key: img.keyPem });
  await rksSecret('old.example.com', { meta: { ttl: 60 }, certificate: expired.chainPem, private_key: expired.keyPem });
  await rksSecret('nottl.example.com', { certificate: www.chainPem, private_key: www.keyPem });
  await rksCreateGroup('edge', { callbackURL: '', oauthURL: '', oauthClientID: '', oauthClientSecret: '' }, ['test.example.com', 'www.example.com']);
  await rksCreateGroup(
    'cdn',
    {
      callbackURL: 'https://gm.example.net/nodes',
      oauthURL: 'https://gm.example.net/oauth/token',
      oauthClientID: 'cdn-client',
      oauthClientSecret: 'oauth-Secret-9vT',
    },
    ['img.example.com', 'www.example.com'],
  );
  await rksCreateGroup('plain', { callbackURL: 'http://gm.example.net/nodes', oauthURL: '', oauthClientID: '', oauthClientSecret: '' }, []);
});

afterAll(async () => {
  await vault?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('migrate --from-rks', () => {
  let rks: RksClient | undefined;
  afterAll(async () => rks?.s.close());

  it('imports secrets, groups, assignments and group tokens; lists what it skipped and why; a second run changes nothing', async () => {
    const path = join(dir, 'data');
    const store = await FSKeyStore.open(path);
    const progress: string[] = [];
    const report = await importFromRks({ endpoint: vault.url, token: vault.rootToken }, store, (w) => progress.push(w));
    expect(report.bundles).toEqual({ imported: 2, unchanged: 0 });
    expect(report.groups).toEqual({ imported: 2, unchanged: 0 });
    expect(report.assignments).toBe(3);
    expect(report.initialized).toBe(true);
    expect(report.failures.map((f) => f.what)).toEqual([
      'secret nokey.example.com',
      'secret nottl.example.com',
      'secret old.example.com',
      'secret test.example.com',
      'assignment edge/test.example.com',
      'group plain',
    ]);
    const reason = (what: string) => report.failures.find((f) => f.what === what)?.reason;
    expect(reason('secret nokey.example.com')).toMatch(/^private_key: /);
    expect(reason('secret nottl.example.com')).toMatch(/^meta\.ttl must be/);
    expect(reason('secret old.example.com')).toMatch(/expired/);
    expect(reason('secret test.example.com')).toMatch(/^certificate: /);
    expect(reason('group plain')).toMatch(/^callback_url must be an https:\/\/ URL/);
    expect(progress).toContain('group cdn');

    // Nothing secret in the report, nor among the stored entries in clear (tokens as hashes).
    const shown = JSON.stringify(report);
    for (const secret of [...Object.values(tokens), 'oauth-Secret-9vT', 'rks-admin-password', ...pemBodyLines(www.keyPem)]) expect(shown).not.toContain(secret);
    const entries = await dump(store);
    for (const t of Object.values(tokens)) for (const [name, value] of entries) expect(name + value).not.toContain(t);
    expect([...entries.keys()].some((n) => n.includes('config'))).toBe(false);

    const again = await importFromRks({ endpoint: vault.url, token: vault.rootToken }, store);
    expect(again.bundles).toEqual({ imported: 0, unchanged: 2 });
    expect(again.groups).toEqual({ imported: 0, unchanged: 2 });
    expect(again.assignments).toBe(0);
    expect(await dump(store)).toEqual(entries);
    await store.close();

    // keygate serves the imported keystore.
    rks = await startRks({ config: { keystore: { fs: { path } } } });
    const admin = await rks.login();
    const cdn = await rks.call('/rks/v1/group/cdn', { token: admin });
    expectJSON(cdn, 200, {
      callbackURL: 'https://gm.example.net/nodes',
      oauthURL: 'https://gm.example.net/oauth/token',
      oauthClientID: 'cdn-client',
      oauthClientSecret: '',
    });
    const described = await rks.s.call(rks.s.admin, '/v1/group/describe/cdn');
    expect(described.json).toMatchObject({ oauth_mode: 'rks', oauth_client_secret_set: true, bundles: ['img.example.com', 'www.example.com'] });
    // Already initialised, as the RKS was.
    expect((await rks.call('/rks/v1/init', { method: 'POST', token: 'init-Zr7QpX2v' })).status).toBe(409);

    // A node provisioned under RKS registers with its old group token and reads its secret.
    const reg = await rks.call('/rks/v1/node', { method: 'POST', token: tokens['edge'] as string, headers: { 'X-LCDN-nodeId': 'edge-node-1' } });
    expect(reg.status).toBe(201);
    const nodeToken = reg.json.nodeToken as string;
    expect(nodeToken).toMatch(/^kgn_/);
    const read = await rks.call('/rks/v1/secret/www.example.com', { token: nodeToken });
    expectJSON(read, 200, { data: { meta: { ttl: 300 }, certificate: www.chainPem, private_key: www.keyPem } });
    expect((await rks.call('/rks/v1/secret/img.example.com', { token: nodeToken })).status).toBe(403);
    // Another group's token does not register into this group's secrets, and a made-up Vault token fails.
    expect((await rks.call('/rks/v1/node', { method: 'POST', token: 's.' + 'A'.repeat(24), headers: { 'X-LCDN-nodeId': 'n' } })).status).toBe(403);
    // Rotation replaces the adopted token like any other.
    const rotated = await rks.call('/rks/v1/group/edge/grouptoken', { method: 'PUT', token: admin });
    expect(rotated.status).toBe(200);
    expect((await rks.call('/rks/v1/node', { method: 'POST', token: tokens['edge'] as string, headers: { 'X-LCDN-nodeId': 'edge-node-2' } })).status).toBe(403);
  });
});
