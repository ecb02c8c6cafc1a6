/**
 * The filesystem keystores of scenario (e). 100 bundles go through the
 * BundleService over the fs adapter (validation, SAN index, fsync: exactly
 * what an import does); the 100 000-bundle store is those 100 entries plus
 * 99 900 written straight into the adapter's on-disk layout (one 0600 file
 * per entry, named as the entry) — the adapter's own create fsyncs twice per
 * entry, about 1 400 entries/s here, which would take minutes for 200 000
 * entries. Each copy is a real record of the service's format with its own
 * name, generation id and SAN index entry; the certificate bytes are reused
 * from the 100 imported bundles.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FSKeyStore } from '../../keystores/fs.js';
import { BundleService } from '../../src/core/bundles/service.js';
import { noGroupAccess } from '../../src/core/access.js';
import { decodeRecord, encodeRecord, type BundleRecord } from '../../src/core/bundles/record.js';
import { entryOf } from '../../src/core/bundles/names.js';
import { indexEntryName } from '../../src/core/bundles/san-index.js';
import type { BenchPKI } from '../pki.js';
import { BUNDLE_TTL } from './common.js';

export const bundleName = (i: number): string => `host-${i}.bench.example`;

/** Imports `count` bundles through the service into a new fs keystore at `root`. */
export async function importThroughService(root: string, pki: BenchPKI, count: number): Promise<void> {
  const store = await FSKeyStore.open(root);
  const service = new BundleService(store, noGroupAccess);
  for (let i = 0; i < count; i++) {
    const { chainPem, keyPem } = pki.bundle(bundleName(i));
    await service.import(bundleName(i), { chainPem, keyPem, ttl: BUNDLE_TTL }, pki.admin.identity);
  }
  await store.close();
}

/** What `fillLarge` wrote. */
export interface LargeStore {
  files: number;
  /** What the read cache needs to hold every bundle entry: value bytes plus the cache's per-entry overhead. */
  cacheBytes: number;
}

/** The read cache's per-entry overhead (keystores/cache.ts: value, name and 64 bytes). */
const CACHE_OVERHEAD = 64;

/**
 * Fills `root` with `total` bundles: a copy of `seedRoot` (bundles 0..seeds-1,
 * imported by the service) plus copies of their records under new names.
 */
export async function fillLarge(root: string, seedRoot: string, seeds: number, total: number): Promise<LargeStore> {
  await FSKeyStore.open(root); // creates the root as the adapter would (0700)
  let files = 0;
  for (const f of readdirSync(seedRoot)) {
    copyFileSync(join(seedRoot, f), join(root, f));
    files++;
  }
  const records: BundleRecord[] = [];
  let cacheBytes = 0;
  for (let i = 0; i < seeds; i++) {
    const value = await readEntry(seedRoot, entryOf(bundleName(i)));
    records.push(decodeRecord(value));
    cacheBytes += value.length + entryOf(bundleName(i)).length + CACHE_OVERHEAD;
  }
  // Many writes in flight: file creation waits on the disk, not on the CPU.
  let next = seeds;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const name = bundleName(i);
      const record: BundleRecord = { ...(records[i % seeds] as BundleRecord), id: randomBytes(16).toString('hex'), sans: { dns: [name], ip: [] } };
      const san = `dns:${name}`;
      const value = encodeRecord(record);
      cacheBytes += value.length + entryOf(name).length + CACHE_OVERHEAD;
      await writeFile(join(root, entryOf(name)), value, { mode: 0o600 });
      await writeFile(join(root, indexEntryName(san)), JSON.stringify({ san, refs: [{ name, id: record.id }] }), { mode: 0o600 });
      files += 2;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return { files, cacheBytes };
}

async function readEntry(root: string, entry: string): Promise<Buffer> {
  return (await new FSKeyStore(root).get(entry)).value;
}

/**
 * Deletes a keystore folder with many unlinks in flight: this disk discards the blocks of
 * every deleted file synchronously, so one-at-a-time removal of 200 000 files takes minutes.
 */
export async function removeStore(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) await unlink(join(root, names[next++] as string)).catch(() => undefined);
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  await rm(root, { recursive: true, force: true });
}
