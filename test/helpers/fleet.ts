/** Test doubles for the group and node services: a clock to move by hand, a keystore that counts, a bundle catalog. */
import { MemoryKeyStore } from '../../keystores/memory.js';
import type { Entry, KeyStore, ListPage, StoreStatus } from '../../keystores/keystore.js';
import type { BundleCatalog } from '../../src/core/access.js';

export interface Clock {
  now: () => number;
  advance(ms: number): void;
}

/** A clock that only moves when told (starts at a fixed instant). */
export function manualClock(start = Date.UTC(2030, 0, 1)): Clock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** A memory keystore that counts operations by kind. */
export class CountingStore implements KeyStore {
  readonly inner = new MemoryKeyStore();
  readonly counts = { create: 0, get: 0, update: 0, delete: 0, list: 0 };

  create(name: string, value: Uint8Array): Promise<void> {
    this.counts.create++;
    return this.inner.create(name, value);
  }
  get(name: string): Promise<Entry> {
    this.counts.get++;
    return this.inner.get(name);
  }
  update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    this.counts.update++;
    return this.inner.update(name, value, expectedVersion);
  }
  delete(name: string): Promise<void> {
    this.counts.delete++;
    return this.inner.delete(name);
  }
  list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    this.counts.list++;
    return this.inner.list(prefix, continueAt, limit);
  }
  status(): Promise<StoreStatus> {
    return this.inner.status();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  writes(): number {
    return this.counts.create + this.counts.update + this.counts.delete;
  }
}

/** Every entry of a keystore: name → value as text. */
export async function dump(store: KeyStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '';
  do {
    const page = await store.list('', cursor, 1000);
    for (const name of page.names) out.set(name, (await store.get(name)).value.toString('utf8'));
    cursor = page.continueAt;
  } while (cursor !== '');
  return out;
}

/** A bundle catalog that knows the names it is given. */
export function catalogOf(...names: string[]): BundleCatalog & { names: Set<string> } {
  const set = new Set(names);
  return { names: set, exists: async (b) => set.has(b) };
}

/**
 * Rebuilds the running server's group and node services over the same keystore
 * with `clock`, so tokens expire when the test says (no sleeping).
 */
export async function useClock(running: { holder: { current: import('../../src/server/state.js').State } }, clock: Clock): Promise<void> {
  const { createFleet } = await import('../../src/core/fleet/fleet.js');
  const { BundleService } = await import('../../src/core/bundles/service.js');
  const state = running.holder.current;
  // Test group managers listen on this host, as test servers allow (callbacks.allow_loopback).
  const fleet = createFleet(
    state.store,
    {
      exists: (b) =>
        state.bundles.get(b).then(
          () => true,
          () => false,
        ),
    },
    { now: clock.now, allowLoopbackCallbacks: true },
  );
  running.holder.current = { ...state, ...fleet, bundles: new BundleService(state.store, fleet.access) };
}
