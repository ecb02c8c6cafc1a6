/** "Nothing stored": compares a keystore with a snapshot, and puts the snapshot back when they differ. */
import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';
import { dump } from '../helpers/fleet.js';
import type { KeyStore } from '../../keystores/keystore.js';

/** Restores `baseline` into `store`; returns what had changed (entries added, removed, changed), or null. */
export async function restore(store: KeyStore, baseline: Map<string, string>): Promise<string | null> {
  const now = await dump(store);
  if (isDeepStrictEqual(now, baseline)) return null;
  const added = [...now.keys()].filter((n) => !baseline.has(n));
  const removed = [...baseline.keys()].filter((n) => !now.has(n));
  const changed = [...baseline.keys()].filter((n) => now.has(n) && now.get(n) !== baseline.get(n));
  for (const name of added) await store.delete(name);
  for (const name of removed) await store.create(name, Buffer.from(baseline.get(name) as string));
  for (const name of changed) await store.update(name, Buffer.from(baseline.get(name) as string), (await store.get(name)).version);
  return JSON.stringify({ added, removed, changed });
}

/**
 * Fails the test when `store` no longer holds exactly `baseline` — after restoring
 * the baseline, so one bad case does not fail every later one.
 */
export async function expectUnchanged(store: KeyStore, baseline: Map<string, string>, what: string): Promise<void> {
  const changes = await restore(store, baseline);
  if (changes !== null) expect.fail(`${what} changed the keystore: ${changes}`);
}
