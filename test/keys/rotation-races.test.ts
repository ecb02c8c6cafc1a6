/**
 * Replicas rotating the same key at once: every rotation adds its own version (the
 * conditional update loses none), on the memory keystore and on two fs keystores over
 * one folder (two processes' view of a shared volume). A counting wrapper proves the
 * races really happened, so the test cannot pass by running the rotations one by one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { FSKeyStore } from '../../keystores/fs.js';
import { VersionMismatchError, type Entry, type KeyStore, type ListPage, type StoreStatus } from '../../keystores/keystore.js';
import { KeyService } from '../../src/core/keys/service.js';
import { decodeKeyRing } from '../../src/crypto/index.js';
import { secretKeyMaterial } from '../../src/crypto/secret-key.js';

/** Passes everything through; counts the conditional updates another writer won. */
class CountingStore implements KeyStore {
  lost = 0;
  constructor(private readonly inner: KeyStore) {}
  create(name: string, value: Uint8Array): Promise<void> {
    return this.inner.create(name, value);
  }
  get(name: string): Promise<Entry> {
    return this.inner.get(name);
  }
  async update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    try {
      return await this.inner.update(name, value, expectedVersion);
    } catch (err) {
      if (err instanceof VersionMismatchError) this.lost++;
      throw err;
    }
  }
  delete(name: string): Promise<void> {
    return this.inner.delete(name);
  }
  list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    return this.inner.list(prefix, continueAt, limit);
  }
  status(): Promise<StoreStatus> {
    return this.inner.status();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Rotates `perReplica` times from each replica, all at once; checks no version was lost. */
async function race(stores: CountingStore[], perReplica: number): Promise<void> {
  const replicas = stores.map((s) => new KeyService(s));
  await replicas[0]!.create('raced', 'creator');
  const before = await replicas[0]!.encrypt('raced', Buffer.from('before'), undefined);

  await Promise.all(replicas.flatMap((keys, i) => Array.from({ length: perReplica }, () => keys.rotate('raced', `replica-${i}`))));

  const expected = 1 + replicas.length * perReplica;
  const ring = decodeKeyRing((await stores[0]!.get('raced')).value);
  expect(ring.latestVersion).toBe(expected);
  // Each version is a key of its own, and each replica's rotations all landed.
  const keys = new Set(ring.versions().map((v) => secretKeyMaterial(v.key).key.toString('hex')));
  expect(keys.size).toBe(expected);
  for (let i = 0; i < replicas.length; i++) {
    expect(ring.versions().filter((v) => v.createdBy === `replica-${i}`)).toHaveLength(perReplica);
  }
  expect(stores.reduce((n, s) => n + s.lost, 0)).toBeGreaterThan(0);

  for (const keys of replicas) {
    expect((await keys.decrypt('raced', before, undefined)).toString()).toBe('before');
    const after = await keys.encrypt('raced', Buffer.from('after'), undefined);
    expect((await replicas[0]!.decrypt('raced', after, undefined)).toString()).toBe('after');
    expect((await keys.describe('raced')).latestVersion).toBe(expected);
  }
}

describe('concurrent rotations', () => {
  it('lose no version on the memory keystore', async () => {
    const shared = new MemoryKeyStore();
    await race([new CountingStore(shared), new CountingStore(shared)], 10);
  });

  it('lose no version on two fs keystores sharing a folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keygate-rotate-'));
    const a = await FSKeyStore.open(join(dir, 'store'));
    const b = await FSKeyStore.open(join(dir, 'store'));
    cleanups.push(async () => {
      await a.close();
      await b.close();
      await rm(dir, { recursive: true, force: true });
    });
    await race([new CountingStore(a), new CountingStore(b)], 8);
  });
});
