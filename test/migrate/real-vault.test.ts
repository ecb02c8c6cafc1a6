/**
 * `migrate` fs → a real Vault (v1.4.0 dev server from ../shared/tools/vault, or VAULT_BIN) → fs:
 * a populated keystore (1000 keys, 1000 bundles, groups, nodes) arrives byte-identical. Skips
 * with one line when there is no Vault binary.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FSKeyStore } from '../../keystores/fs.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { VaultKeyStore } from '../../keystores/vault/index.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { migrate } from '../../src/migrate/copy.js';
import { realVaultBinary, startDevVault, type DevVault } from '../helpers/real-vault.js';
import { dump } from '../helpers/fleet.js';
import { populate, type Population } from './populate.js';

const binary = realVaultBinary();
if (binary === undefined) console.info('migrate: no Vault binary (VAULT_BIN or ../shared/tools/vault): the fs → real Vault → fs round trip is skipped');

(binary === undefined ? describe.skip : describe)('fs → real Vault → fs', () => {
  let dir: string;
  let vault: DevVault;
  const closers: Array<{ close(): Promise<void> }> = [];
  let population: Population;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keygate-migrate-real-'));
    vault = await startDevVault();
  }, 60_000);
  afterAll(async () => {
    for (const c of closers) await c.close().catch(() => undefined);
    await vault?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('carries every entry there and back unchanged, and a second run copies nothing', async () => {
    const memory = new MemoryKeyStore();
    population = await populate(memory, { keys: 1000, bundles: 1000, groups: 4, nodesPerGroup: 10 });
    const source = await FSKeyStore.open(join(dir, 'source'));
    closers.push(source);
    await migrate(memory, source, { now: population.clock.now });

    const admin = new VaultAdmin(vault.addr, vault.rootToken);
    await admin.mountKV('keygate', 'v2');
    await admin.keygatePolicy('keygate', { version: 'v2', engine: 'keygate', prefix: 'prod' });
    const target = await VaultKeyStore.connect({
      endpoint: vault.addr,
      engine: 'keygate',
      version: 'v2',
      prefix: 'prod',
      auth: { kind: 'token', token: await admin.createToken(['keygate'], '1h') },
    });
    closers.push(target);
    const there = await migrate(source, target, { now: population.clock.now });
    const before = await dump(source);
    expect(there).toMatchObject({ copied: before.size, verified: before.size, mismatched: [], conflicts: [] });
    expect((await migrate(source, target, { now: population.clock.now })).copied).toBe(0);

    const back = await FSKeyStore.open(join(dir, 'back'));
    closers.push(back);
    expect((await migrate(target, back, { now: population.clock.now })).verified).toBe(before.size);
    expect(await dump(back)).toEqual(before);
  }, 600_000);
});
