/**
 * `migrate` between keystores: a populated fs keystore (1000 keys, 1000 bundles, groups,
 * nodes, enrollments, bans, tokens) copied to Vault (the project's test server) and back to
 * a fresh fs keystore is byte-identical, and keygate reads everything in it; a run that fails
 * half-way is resumed by running it again; a second run copies nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FSKeyStore } from '../../keystores/fs.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { StoreError, type Entry, type KeyStore } from '../../keystores/keystore.js';
import { VaultKeyStore } from '../../keystores/vault/index.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { migrate, TargetNotEmptyError } from '../../src/migrate/copy.js';
import { BundleService } from '../../src/core/bundles/service.js';
import { createFleet } from '../../src/core/fleet/fleet.js';
import { KeyService } from '../../src/core/keys/service.js';
import { startVaultTestServer, type VaultTestServer } from '../vault-server/index.js';
import { dump } from '../helpers/fleet.js';
import { populate, type Population } from './populate.js';

let dir: string;
let vault: VaultTestServer;
let vaultStore: VaultKeyStore;
let source: FSKeyStore;
let population: Population;
const stores: KeyStore[] = [];

/** Fails every create after `n` of them, as a crash or a lost connection would. */
class FailAfter implements KeyStore {
  creates = 0;
  constructor(
    private readonly inner: KeyStore,
    private readonly n: number,
  ) {}
  async create(name: string, value: Uint8Array): Promise<void> {
    if (++this.creates > this.n) throw new StoreError('injected failure');
    return this.inner.create(name, value);
  }
  get(name: string): Promise<Entry> {
    return this.inner.get(name);
  }
  update(name: string, value: Uint8Array, v: string): Promise<string> {
    return this.inner.update(name, value, v);
  }
  delete(name: string): Promise<void> {
    return this.inner.delete(name);
  }
  list(p: string, c: string, l: number) {
    return this.inner.list(p, c, l);
  }
  status() {
    return this.inner.status();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function fsStore(name: string): Promise<FSKeyStore> {
  const store = await FSKeyStore.open(join(dir, name));
  stores.push(store);
  return store;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keygate-migrate-'));
  vault = await startVaultTestServer();
  const admin = new VaultAdmin(vault.url, vault.rootToken);
  await admin.mountKV('keygate', 'v2');
  await admin.keygatePolicy('keygate', { version: 'v2', engine: 'keygate', prefix: 'prod' });
  vaultStore = await VaultKeyStore.connect({
    endpoint: vault.url,
    engine: 'keygate',
    version: 'v2',
    prefix: 'prod',
    auth: { kind: 'token', token: await admin.createToken(['keygate']) },
  });
  stores.push(vaultStore);
  // Populated in memory (fast), then moved to the fs keystore the test starts from.
  const memory = new MemoryKeyStore();
  population = await populate(memory, { keys: 1000, bundles: 1000, groups: 5, nodesPerGroup: 20 });
  source = await fsStore('source');
  const seeded = await migrate(memory, source, { now: population.clock.now });
  expect(seeded.mismatched).toEqual([]);
}, 300_000);

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  await vault?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('fs → Vault → fs', () => {
  it('an interrupted run is resumed by running it again; everything arrives identical', async () => {
    const before = await dump(source);
    expect(before.size).toBeGreaterThan(2000 + 5 * 20);
    for (const kind of ['bundle.', 'san.', 'group.', 'token.', 'node.', 'member.', 'ban.']) {
      expect(
        [...before.keys()].some((n) => n.startsWith(kind)),
        kind,
      ).toBe(true);
    }

    // The first run dies after 700 writes: nothing is half-written, the run reports the failure.
    const failing = new FailAfter(vaultStore, 700);
    await expect(migrate(source, failing, { now: population.clock.now })).rejects.toThrow('injected failure');
    const partial = await dump(vaultStore);
    expect(partial.size).toBeGreaterThanOrEqual(700);
    expect(partial.size).toBeLessThan(before.size);
    for (const [name, value] of partial) expect(value, name).toBe(before.get(name));

    // Without --merge the target is not empty, but it holds only identical copies: the run goes on.
    const resumed = await migrate(source, vaultStore, { now: population.clock.now });
    expect(resumed.unchanged).toBe(partial.size);
    expect(resumed.copied).toBe(before.size - partial.size);
    expect(resumed.verified).toBe(before.size);
    expect(resumed.mismatched).toEqual([]);
    expect(resumed.conflicts).toEqual([]);

    // A second run copies nothing.
    const again = await migrate(source, vaultStore, { now: population.clock.now });
    expect(again.copied).toBe(0);
    expect(again.unchanged).toBe(before.size);

    // And back to a fresh fs keystore.
    const back = await fsStore('back');
    const home = await migrate(vaultStore, back, { now: population.clock.now });
    expect(home.copied).toBe(before.size);
    expect(home.verified).toBe(before.size);
    const after = await dump(back);
    expect(after).toEqual(before);

    // keygate reads it: a key decrypts what the source's key encrypted, a bundle, a group, a node token.
    const plaintext = Buffer.from('migrated');
    const name = population.keys[123] as string;
    const ciphertext = await new KeyService(source).encrypt(name, plaintext, undefined);
    expect(await new KeyService(back).decrypt(name, ciphertext, undefined)).toEqual(plaintext);
    const fleet = createFleet(back, { exists: async () => true }, { now: population.clock.now });
    const bundles = new BundleService(back, fleet.access);
    const bundle = population.bundles[7] as string;
    expect((await bundles.get(bundle)).keyPem).toContain('PRIVATE KEY');
    expect((await bundles.lookup(bundle, () => true)).map((m) => m.name)).toContain(bundle);
    const node = await fleet.nodes.authenticate(population.nodeTokens[3] as string);
    expect(node?.group.name).toMatch(/^group-/);
    const g = population.groups[2] as { name: string; token: string };
    await expect(fleet.nodes.register(g.token, 'after-migration')).resolves.toMatchObject({ group: g.name });
  }, 300_000);

  it('refuses a target that holds other entries, unless --merge; --dry-run writes nothing', async () => {
    const target = await fsStore('busy');
    await target.create('unrelated-key', Buffer.from('x'));
    await target.create('group.group-1', Buffer.from('{"v":1}'));
    const filters = ['group.*', 'unrelated-*'];
    await expect(migrate(source, target, { filters })).rejects.toThrow(TargetNotEmptyError);
    await expect(migrate(source, target, { filters })).rejects.toThrow(/1 other entry and 1 conflicting one \(group\.group-1\): nothing was written/);
    expect([...(await dump(target)).keys()]).toEqual(['group.group-1', 'unrelated-key']);

    const dry = await migrate(source, target, { filters, merge: true, dryRun: true });
    expect(dry).toMatchObject({ considered: 5, copied: 4, conflicts: ['group.group-1'], foreign: 1, dryRun: true });
    expect((await dump(target)).size).toBe(2);

    const merged = await migrate(source, target, { filters, merge: true });
    expect(merged).toMatchObject({ copied: 4, conflicts: ['group.group-1'], foreign: 1, verified: 4 });
    expect((await target.get('group.group-1')).value.toString()).toBe('{"v":1}');
    expect((await target.get('group.group-0')).value).toEqual((await source.get('group.group-0')).value);
  });

  it('skips expired token records', async () => {
    const later = () => population.clock.now() + 3600_000; // node tokens live 600 s; group tokens never expire
    const target = await fsStore('later');
    const r = await migrate(source, target, { filters: ['token.*'], now: later });
    expect(r.expired).toBe(population.nodeTokens.length);
    expect(r.copied).toBe(population.groups.length);
  });
});
