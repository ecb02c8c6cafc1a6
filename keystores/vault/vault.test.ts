/**
 * What is specific to the Vault adapter's layout: KES compatibility, version
 * history, atomic create across adapters, tenant isolation by prefix and by
 * namespace (enforced by the minimal policies), the auth namespace,
 * Kubernetes token files, TLS, and option checks.
 *
 * Also runs against a real Vault in the project 'real Vault' (test/vault/under-test.ts);
 * what needs the test server (namespaces, its request log, expiring tokens on command,
 * a TLS listener) is skipped there with its reason.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from '../../test/vault-server/index.js';
import { REAL_VAULT, startVault, testServerOnly, type VaultUnderTest } from '../../test/vault/under-test.js';
import { TestPki } from '../../test/helpers/certs.js';
import { EntryExistsError, EntryNotFoundError, InvalidEntryNameError, StoreAccessDeniedError, StoreError, StoreUnreachableError } from '../keystore.js';
import { INVALID_NAMES } from '../contract.js';
import { BINARY_FIELD, VaultKeyStore, type VaultOptions } from './index.js';
import { GENERATION_FIELD } from './kv.js';
import { resolveOptions } from './options.js';
import { minimalPolicy } from './policy.js';
import { ServiceAccountIssuer, VaultAdmin } from './testing.js';

let vault: VaultUnderTest;
let root: VaultAdmin;
let dir: string;
const open: VaultKeyStore[] = [];

beforeAll(async () => {
  vault = await startVault();
  root = vault.admin();
  dir = await mkdtemp(join(tmpdir(), 'keygate-vault-'));
  await root.enableAuth('approle', 'approle');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await vault?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let seq = 0;
const unique = (stem: string): string => `${stem}${++seq}`;

async function connect(options: Omit<VaultOptions, 'endpoint'> & { endpoint?: string }): Promise<VaultKeyStore> {
  const store = await VaultKeyStore.connect({ endpoint: vault.url, ...options });
  open.push(store);
  return store;
}

/** A fresh mount with keygate's minimal policy and a token holding only that policy. */
async function tenant(
  version: 'v1' | 'v2',
  opts: { engine?: string; prefix?: string; admin?: VaultAdmin } = {},
): Promise<{ engine: string; token: string; store: VaultKeyStore }> {
  const admin = opts.admin ?? root;
  const engine = opts.engine ?? unique('kv');
  if (opts.engine === undefined) await admin.mountKV(engine, version);
  const policy = unique('keygate-');
  await admin.keygatePolicy(policy, { version, engine, ...(opts.prefix !== undefined && { prefix: opts.prefix }) });
  const token = await admin.createToken([policy]);
  const store = await connect({
    engine,
    version,
    auth: { kind: 'token', token },
    ...(opts.prefix !== undefined && { prefix: opts.prefix }),
    ...(admin.namespace !== '' && { namespace: admin.namespace }),
  });
  return { engine, token, store };
}

describe('KES layout', () => {
  // A KES key as KES stores it: base64(protobuf) text in a field named after the key.
  const kesValue = 'CiAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHxIGCAEQgICAAQ==';

  it.each(['v1', 'v2'] as const)('serves an entry KES wrote into KV %s, and lists it', async (version) => {
    const { engine, store } = await tenant(version, { prefix: 'kes' });
    const path = version === 'v1' ? `${engine}/kes/my-key` : `${engine}/data/kes/my-key`;
    await root.ok('PUT', path, version === 'v1' ? { 'my-key': kesValue } : { data: { 'my-key': kesValue }, options: { cas: 0 } });
    const entry = await store.get('my-key');
    expect(entry.value.toString()).toBe(kesValue);
    expect((await store.list('', '', 10)).names).toEqual(['my-key']);
    await expect(store.create('my-key', Buffer.from('other'))).rejects.toBeInstanceOf(EntryExistsError);
  });

  it.each(['v1', 'v2'] as const)('writes a text entry into KV %s exactly where and how KES reads it', async (version) => {
    const { engine, store } = await tenant(version, { prefix: 'kes' });
    await store.create('written', Buffer.from(kesValue));
    const body = await root.ok('GET', version === 'v1' ? `${engine}/kes/written` : `${engine}/data/kes/written`);
    const data = version === 'v1' ? body.data : body.data.data;
    // KV v2 entries also carry their generation in a field KES ignores (kv.ts).
    expect(data).toEqual(version === 'v1' ? { written: kesValue } : { written: kesValue, [GENERATION_FIELD]: expect.stringMatching(/^[0-9a-f]{16}$/) });
    if (version === 'v2') expect(body.data.metadata.version).toBe(1);
  });

  it.each(['v1', 'v2'] as const)('stores bytes that are not UTF-8 under %s in the binary field, with the own field empty', async (version) => {
    const { engine, store } = await tenant(version);
    const bytes = Buffer.from([0xff, 0x00, 0xc3, 0x28]);
    await store.create('bin', bytes);
    const body = await root.ok('GET', version === 'v1' ? `${engine}/bin` : `${engine}/data/bin`);
    expect(version === 'v1' ? body.data : body.data.data).toEqual({
      bin: '',
      [BINARY_FIELD]: bytes.toString('base64'),
      ...(version === 'v2' && { [GENERATION_FIELD]: expect.stringMatching(/^[0-9a-f]{16}$/) }),
    });
    expect((await store.get('bin')).value.equals(bytes)).toBe(true);
  });

  it('keeps KV v1 entries named ttl and lease writable: Vault would parse those fields as durations', async () => {
    const { engine, store } = await tenant('v1');
    for (const name of ['ttl', 'lease']) {
      await store.create(name, Buffer.from('not a duration'));
      const { value, version } = await store.get(name);
      expect(value.toString()).toBe('not a duration');
      await store.update(name, Buffer.from('still not'), version);
      expect((await root.ok('GET', `${engine}/${name}`)).data[name]).toBe('');
    }
  });

  it('refuses a secret that is not in the layout without echoing its content', async () => {
    const { engine, store } = await tenant('v2');
    await root.ok('PUT', `${engine}/data/odd`, { data: { other: 'sensitive-content' } });
    const err = await store.get('odd').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect(err?.message).toMatch(/^vault: .*data\/odd is not a keygate entry: no field 'odd'/);
    expect(err?.message).not.toContain('sensitive-content');
  });

  it('lists only entries: no sub-folders, no names an entry cannot have', async () => {
    const { engine, store } = await tenant('v1', { prefix: 'p' });
    await store.create('real', Buffer.from('x'));
    await root.ok('PUT', `${engine}/p/folder/inner`, { inner: 'x' });
    await root.ok('PUT', `${engine}/p/has space`, { 'has space': 'x' });
    await root.ok('PUT', `${engine}/other/outside`, { outside: 'x' });
    expect(await store.list('', '', 10)).toEqual({ names: ['real'], continueAt: '' });
  });

  it("reports a KV version mismatch with Vault's explanation", async () => {
    const engine = unique('kv');
    await root.mountKV(engine, 'v2');
    const store = await connect({ engine, version: 'v1', auth: { kind: 'token', token: vault.rootToken } });
    await expect(store.create('x', Buffer.from('x'))).rejects.toThrow(/^vault: PUT .*: 404 Invalid path for a versioned K\/V secrets engine/);
  });
});

describe('permissions', () => {
  it('names the paths and capabilities a token lacks, in status() and one log line, and recovers when a policy grants them', async () => {
    const engine = unique('kv');
    await root.mountKV(engine, 'v2');
    const policy = `${engine}-policy`;
    await root.keygatePolicy(policy, { version: 'v2', engine, prefix: 'other' });
    const token = await root.createToken([policy]);
    const lines: string[] = [];
    const store = await connect({ engine, version: 'v2', prefix: 'mine', auth: { kind: 'token', token }, log: (level, m) => lines.push(`${level} ${m}`) });
    const why = `vault: permission denied on ${engine}/data/mine/*: missing create, read, update; on ${engine}/metadata/mine/*: missing list, delete`;
    const err = await store.status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreAccessDeniedError);
    expect((err as Error).message).toBe(why);
    expect(lines.filter((l) => l.startsWith('error vault: permission denied'))).toEqual([
      `error ${why}; keygate is not ready until the token's policies grant it`,
    ]);
    // Without Vault's default policy the token may not ask sys/capabilities-self: a LIST decides.
    const bare = (await root.ok('POST', 'auth/token/create', { policies: [policy], no_default_policy: true })).auth.client_token as string;
    const listed = await connect({ engine, version: 'v2', prefix: 'mine', auth: { kind: 'token', token: bare } });
    await expect(listed.status()).rejects.toThrow(`vault: permission denied on ${engine}/metadata/mine/: missing list`);
    await root.keygatePolicy(policy, { version: 'v2', engine, prefix: 'mine' });
    expect((await store.status()).latencyMs).toBeGreaterThanOrEqual(0);
    expect((await listed.status()).latencyMs).toBeGreaterThanOrEqual(0);
  });
});

describe('names', () => {
  testServerOnly('reads the request log')('refuses every name no adapter may store before any request reaches Vault', async () => {
    const server = vault.server as VaultTestServer;
    for (const version of ['v1', 'v2'] as const) {
      const { store } = await tenant(version, { prefix: 'names' });
      await store.create('valid', Buffer.from('v'));
      const { version: current } = await store.get('valid');
      const before = server.requests.length;
      for (const bad of INVALID_NAMES) {
        for (const call of [
          () => store.create(bad, Buffer.from('v')),
          () => store.get(bad),
          () => store.update(bad, Buffer.from('v'), current),
          () => store.delete(bad),
          ...(bad === '' ? [] : [() => store.list(bad, '', 10), () => store.list('', bad, 10)]),
        ]) {
          await expect(call(), JSON.stringify(bad)).rejects.toBeInstanceOf(InvalidEntryNameError);
        }
      }
      expect(server.requests.slice(before).map((r) => r.path)).toEqual([]);
    }
  });
});

describe('KV v2 versions', () => {
  it('serves entries written without a generation (KES, older keygate), and gives them one at their next update', async () => {
    const { engine, store } = await tenant('v2', { prefix: 'old' });
    await root.ok('PUT', `${engine}/data/old/k`, { data: { k: 'legacy' }, options: { cas: 0 } });
    const legacy = await store.get('k');
    expect(legacy.version).toBe('1');
    const next = await store.update('k', Buffer.from('updated'), legacy.version);
    expect(next).toMatch(/^2-g[0-9a-f]{16}$/);
    expect((await root.ok('GET', `${engine}/data/old/k`)).data.data[GENERATION_FIELD]).toBe(next.slice(3));
    // A stale legacy version no longer matches, nor does the bare number of the current one.
    await expect(store.update('k', Buffer.from('x'), '1')).rejects.toThrow(/changed concurrently/);
    await expect(store.update('k', Buffer.from('x'), '2')).rejects.toThrow(/changed concurrently/);
    expect((await store.get('k')).value.toString()).toBe('updated');
  });

  it('delete removes the metadata and every version, so no old value survives', async () => {
    const { engine, store } = await tenant('v2', { prefix: 'p' });
    await store.create('k', Buffer.from('private-1'));
    let { version } = await store.get('k');
    version = await store.update('k', Buffer.from('private-2'), version);
    await store.update('k', Buffer.from('private-3'), version);
    expect((await root.ok('GET', `${engine}/metadata/p/k`)).data.current_version).toBe(3);
    await store.delete('k');
    expect((await root.request('GET', `${engine}/metadata/p/k`)).status).toBe(404);
    for (const v of [1, 2, 3]) expect((await root.request('GET', `${engine}/data/p/k?version=${v}`)).status).toBe(404);
  });

  it('treats a version soft-deleted outside keygate as gone: get misses, create replaces, delete purges', async () => {
    const { engine, store } = await tenant('v2');
    await store.create('k', Buffer.from('one'));
    await root.ok('DELETE', `${engine}/data/k`);
    await expect(store.get('k')).rejects.toBeInstanceOf(EntryNotFoundError);
    await store.create('k', Buffer.from('two'));
    expect((await store.get('k')).value.toString()).toBe('two');
    await root.ok('DELETE', `${engine}/data/k`);
    await expect(store.delete('k')).rejects.toBeInstanceOf(EntryNotFoundError);
    expect((await root.request('GET', `${engine}/metadata/k`)).status).toBe(404);
  });

  it('lets exactly one of two adapters racing to create a name win', async () => {
    const { engine, store: a } = await tenant('v2', { prefix: 'shared' });
    const { store: b } = await tenant('v2', { engine, prefix: 'shared' });
    for (let i = 0; i < 25; i++) {
      const results = await Promise.allSettled([a.create(`race-${i}`, Buffer.from(`a${i}`)), b.create(`race-${i}`, Buffer.from(`b${i}`))]);
      const winners = results.filter((r) => r.status === 'fulfilled');
      expect(winners, `round ${i}`).toHaveLength(1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(loser.reason).toBeInstanceOf(EntryExistsError);
      const stored = (await a.get(`race-${i}`)).value.toString();
      expect(stored).toBe(results[0].status === 'fulfilled' ? `a${i}` : `b${i}`);
    }
  });
});

describe('multi-tenancy', () => {
  it.each(['v1', 'v2'] as const)('isolates tenants by prefix on one KV %s mount, enforced by their policies', async (version) => {
    const engine = unique('shared');
    await root.mountKV(engine, version);
    const a = await tenant(version, { engine, prefix: 'tenant-a' });
    const b = await tenant(version, { engine, prefix: 'tenant-b' });
    await a.store.create('only-a', Buffer.from('a'));
    await b.store.create('only-b', Buffer.from('b'));
    await a.store.create('same', Buffer.from('from a'));
    await b.store.create('same', Buffer.from('from b'));
    expect((await a.store.list('', '', 10)).names).toEqual(['only-a', 'same']);
    expect((await b.store.list('', '', 10)).names).toEqual(['only-b', 'same']);
    expect((await a.store.get('same')).value.toString()).toBe('from a');
    await expect(a.store.get('only-b')).rejects.toBeInstanceOf(EntryNotFoundError);

    const asA = new VaultAdmin(vault.url, a.token);
    const paths =
      version === 'v1'
        ? {
            own: `${engine}/tenant-a/only-a`,
            read: `${engine}/tenant-b/only-b`,
            list: `${engine}/tenant-b/`,
            root: `${engine}/`,
            del: `${engine}/tenant-b/only-b`,
          }
        : {
            own: `${engine}/data/tenant-a/only-a`,
            read: `${engine}/data/tenant-b/only-b`,
            list: `${engine}/metadata/tenant-b/`,
            root: `${engine}/metadata/`,
            del: `${engine}/metadata/tenant-b/only-b`,
          };
    expect((await asA.request('GET', paths.own)).status).toBe(200);
    expect((await asA.request('GET', paths.read)).status).toBe(403);
    expect((await asA.request('PUT', paths.read, version === 'v1' ? { x: 'y' } : { data: { x: 'y' } })).status).toBe(403);
    expect((await asA.request('LIST', paths.list)).status).toBe(403);
    expect((await asA.request('LIST', paths.root)).status).toBe(403);
    expect((await asA.request('DELETE', paths.del)).status).toBe(403);
    expect((await b.store.get('only-b')).value.toString()).toBe('b');
  });

  testServerOnly('Vault OSS has no namespaces')('isolates tenants by namespace, enforced by namespace-scoped tokens and policies', async () => {
    const [nsA, nsB] = [unique('ns-a'), unique('ns-b')];
    for (const ns of [nsA, nsB]) {
      await root.createNamespace(ns);
      await root.in(ns).mountKV('kv', 'v2');
    }
    const a = await tenant('v2', { engine: 'kv', prefix: 'keygate', admin: root.in(nsA) });
    const b = await tenant('v2', { engine: 'kv', prefix: 'keygate', admin: root.in(nsB) });
    await a.store.create('same', Buffer.from('from a'));
    await b.store.create('same', Buffer.from('from b'));
    await b.store.create('only-b', Buffer.from('b'));
    expect((await a.store.get('same')).value.toString()).toBe('from a');
    expect((await b.store.get('same')).value.toString()).toBe('from b');
    expect((await a.store.list('', '', 10)).names).toEqual(['same']);

    const aInB = new VaultAdmin(vault.url, a.token, nsB);
    expect((await new VaultAdmin(vault.url, a.token, nsA).request('GET', 'kv/data/keygate/same')).status).toBe(200);
    expect((await aInB.request('GET', 'kv/data/keygate/same')).status).toBe(403);
    expect((await aInB.request('LIST', 'kv/metadata/keygate/')).status).toBe(403);
    expect((await aInB.request('DELETE', 'kv/metadata/keygate/only-b')).status).toBe(403);
    expect((await new VaultAdmin(vault.url, a.token).request('GET', `${nsB}/kv/data/keygate/same`)).status).toBe(403);
  });

  testServerOnly('namespaces, and the request log')('sends X-Vault-Namespace only when a namespace is set, and never on sys/health', async () => {
    const server = vault.server as VaultTestServer;
    const ns = unique('ns-h');
    await root.createNamespace(ns);
    await root.in(ns).mountKV('kv', 'v2');
    const spaced = await tenant('v2', { engine: 'kv', admin: root.in(ns) });
    const plain = await tenant('v2');
    server.requests.length = 0;
    await spaced.store.create('x', Buffer.from('x'));
    await spaced.store.status();
    await plain.store.create('x', Buffer.from('x'));
    await plain.store.status();
    const seen = server.requests.map((r) => [r.path.replace(/\?.*/, ''), r.namespace]);
    expect(seen).toContainEqual(['/v1/kv/data/x', ns]);
    expect(seen).toContainEqual([`/v1/${plain.engine}/data/x`, undefined]);
    expect(seen.filter(([p]) => p === '/v1/sys/health')).toEqual([
      ['/v1/sys/health', undefined],
      ['/v1/sys/health', undefined],
    ]);
  });
});

describe('authentication', () => {
  testServerOnly('namespaces, and the request log')('logs in with AppRole in the root namespace ("/") while serving a KV mount in a namespace', async () => {
    const server = vault.server as VaultTestServer;
    const ns = unique('ns-c');
    await root.createNamespace(ns);
    await root.in(ns).mountKV('kv', 'v2');
    // A root-namespace policy reaches into the child namespace by path.
    await root.keygatePolicy('cross', { version: 'v2', engine: `${ns}/kv`, prefix: 'app' });
    const creds = await root.appRole('approle', unique('cross-'), ['cross']);
    server.requests.length = 0;
    const store = await connect({
      engine: 'kv',
      version: 'v2',
      namespace: ns,
      prefix: 'app',
      auth: { kind: 'approle', engine: 'approle', namespace: '/', ...creds },
    });
    await store.create('k', Buffer.from('v'));
    expect((await store.get('k')).value.toString()).toBe('v');
    const login = server.requests.find((r) => r.path === '/v1/auth/approle/login');
    expect(login?.namespace).toBeUndefined();
    expect(server.requests.find((r) => r.path === '/v1/kv/data/app/k')?.namespace).toBe(ns);
  });

  testServerOnly('expires tokens on command')('re-reads the Kubernetes service-account token file at every login', async () => {
    const server = vault.server as VaultTestServer;
    const mount = unique('k8s');
    await root.enableAuth(mount, 'kubernetes');
    await root.keygatePolicy('k8s-keygate', { version: 'v2', engine: 'secret', prefix: 'k8s' });
    const first = await root.kubernetes(mount, 'keygate', ['k8s-keygate'], 'keygate', 'infra');
    const file = join(dir, 'sa-token');
    await writeFile(file, first.jwt('infra', 'keygate') + '\n');
    const store = await connect({ engine: 'secret', version: 'v2', prefix: 'k8s', auth: { kind: 'kubernetes', engine: mount, role: 'keygate', jwt: file } });
    await store.create('k', Buffer.from('v'));
    // The cluster rotates its signing key and the projected token: only the new file works now.
    const second = new ServiceAccountIssuer();
    const api = await vault.kubernetesAPI();
    api.trust(second.publicKeyPem);
    await root.ok('POST', `auth/${mount}/config`, {
      kubernetes_host: api.url,
      kubernetes_ca_cert: api.caPem,
      pem_keys: [second.publicKeyPem],
      disable_iss_validation: true,
    });
    await writeFile(file, second.jwt('infra', 'keygate'));
    server.faults.expireAllTokens();
    expect((await store.get('k')).value.toString()).toBe('v');
  });

  it('accepts a literal Kubernetes JWT', async () => {
    const mount = unique('k8s');
    await root.enableAuth(mount, 'kubernetes');
    await root.keygatePolicy('k8s-literal', { version: 'v2', engine: 'secret', prefix: 'lit' });
    const issuer = await root.kubernetes(mount, 'keygate', ['k8s-literal'], 'keygate', 'infra');
    const store = await connect({
      engine: 'secret',
      version: 'v2',
      prefix: 'lit',
      auth: { kind: 'kubernetes', engine: mount, role: 'keygate', jwt: issuer.jwt('infra', 'keygate') },
    });
    await store.create('k', Buffer.from('v'));
  });

  it('fails to connect with a clear StoreError when Vault refuses the credentials', async () => {
    const creds = await root.appRole('approle', unique('bad-'), ['default']);
    const err = await VaultKeyStore.connect({
      endpoint: vault.url,
      version: 'v2',
      auth: { kind: 'approle', engine: 'approle', roleId: creds.roleId, secretId: 'wrong-secret-id' },
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).not.toBeInstanceOf(StoreUnreachableError);
    // Vault 1.4 words it "invalid secret id", current Vault (and the test server) "invalid role or secret ID".
    expect((err as Error).message).toMatch(
      /^vault: cannot connect to http:\/\/127\.0\.0\.1:\d+: approle login failed: .*400 (invalid role or secret ID|invalid secret id)/,
    );
    const bad = await VaultKeyStore.connect({ endpoint: vault.url, version: 'v2', auth: { kind: 'token', token: 'hvs.not-a-token' } }).catch((e: Error) => e);
    expect((bad as Error).message).toMatch(/^vault: cannot connect to .*: the configured token is invalid or expired$/);
  });
});

describe('TLS', () => {
  const pki = new TestPki();
  let secure: VaultTestServer;
  beforeAll(async () => {
    if (REAL_VAULT) return;
    secure = await startVaultTestServer({ tls: { cert: pki.server.certPem, key: pki.server.keyPem } });
  });
  afterAll(async () => {
    await secure?.close();
  });

  testServerOnly("Vault 1.4's dev server has no TLS listener")('talks HTTPS to Vault with the configured CA, and refuses an untrusted server', async () => {
    const base = { endpoint: secure.url, version: 'v2', engine: 'secret', auth: { kind: 'token', token: secure.rootToken } } as const;
    const store = await connect({ ...base, tls: { ca: [Buffer.from(pki.ca.certPem)] } });
    await store.create('k', Buffer.from('v'));
    expect((await store.get('k')).value.toString()).toBe('v');
    await expect(VaultKeyStore.connect(base)).rejects.toBeInstanceOf(StoreUnreachableError);
    const insecure = await connect({ ...base, tls: { insecure: true } });
    expect((await insecure.get('k')).value.toString()).toBe('v');
  });
});

describe('options', () => {
  const token = { kind: 'token', token: 't' } as const;

  it('applies defaults and canonical forms', () => {
    const o = resolveOptions({ endpoint: 'https://vault:8200/', version: 'v2', namespace: '/', prefix: '/a/b/', auth: token });
    expect(o).toMatchObject({ engine: 'kv', namespace: '', prefix: 'a/b', pingIntervalMs: 10_000, timeoutMs: 10_000 });
    expect(resolveOptions({ endpoint: 'http://v', version: 'v1', namespace: 'ns1/team/', auth: token }).namespace).toBe('ns1/team');
  });

  it.each([
    [{ endpoint: 'not a url' }, /not a URL/],
    [{ endpoint: 'ftp://vault' }, /must be http or https/],
    [{ endpoint: 'https://user:pw@vault' }, /credentials/],
    [{ tls: { insecure: true } }, /need an https endpoint/],
    [{ endpoint: 'https://vault', tls: { cert: Buffer.from('x') } }, /cert and key must be given together/],
    [{ prefix: 'a/../b' }, /invalid segment '\.\.'/],
    [{ engine: '' }, /engine is empty/],
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ pingIntervalMs: 2 ** 31 }, /pingIntervalMs/],
    [{ auth: { kind: 'token', token: '' } }, /token is empty/],
    [{ auth: { kind: 'approle', engine: 'approle', roleId: 'r', secretId: '' } }, /role ID and secret ID/],
  ] as const)('rejects %j', (bad, message) => {
    const options = { endpoint: 'http://vault:8200', version: 'v2', auth: token, ...bad } as VaultOptions;
    expect(() => resolveOptions(options)).toThrow(StoreError);
    expect(() => resolveOptions(options)).toThrow(message);
  });
});

describe('minimalPolicy', () => {
  it('grants KV v1 everything under the prefix folder', () => {
    expect(minimalPolicy({ version: 'v1', prefix: 'keygate' })).toBe(
      'path "kv/keygate/*" {\n  capabilities = ["create", "read", "update", "delete", "list"]\n}\n',
    );
  });

  it('grants KV v2 data and metadata separately, and the mount root without a prefix', () => {
    expect(minimalPolicy({ version: 'v2', engine: 'secret' })).toBe(
      'path "secret/data/*" {\n  capabilities = ["create", "read", "update"]\n}\n' + 'path "secret/metadata/*" {\n  capabilities = ["list", "delete"]\n}\n',
    );
  });
});
