/**
 * A caching decorator for any keystore, with KES's `cache.expiry` semantics:
 *
 * - `anyMs`: an entry is served from cache for at most this long after it was fetched;
 * - `unusedMs`: an entry not read for this long is fetched again on its next read;
 * - `offlineMs`: while the backend is unreachable, an entry fetched within the last
 *   `offlineMs` is still served (0 disables offline serving).
 *
 * Concurrent misses for one name share one backend fetch. The cache is bounded by
 * bytes and evicts the least recently used entries first. Only reads are cached;
 * writes go straight to the backend and drop the local copy, so this replica never
 * serves its own stale write (other replicas see it within `anyMs`).
 */
import { StoreUnreachableError, type Entry, type KeyStore, type ListPage, type StoreStatus } from './keystore.js';

export interface CacheOptions {
  anyMs: number;
  unusedMs: number;
  offlineMs: number;
  /** Upper bound of cached value bytes (plus a small per-entry overhead). */
  maxBytes: number;
  /** Injected for tests. */
  now?: () => number;
  /** How often expired entries are dropped; 0 = only when `sweep()` is called. */
  sweepIntervalMs?: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  offlineHits: number;
  bytes: number;
  entries: number;
}

interface Slot {
  entry: Entry;
  fetchedAt: number;
  usedAt: number;
  size: number;
}

const OVERHEAD = 64;

export class CachedKeyStore implements KeyStore {
  private readonly slots = new Map<string, Slot>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Bumped on every local write, so a fetch that raced a write does not cache the old value. */
  private readonly generation = new Map<string, number>();
  private readonly now: () => number;
  private bytes = 0;
  private readonly sweeper: NodeJS.Timeout | undefined;
  readonly stats: Omit<CacheStats, 'bytes' | 'entries'> = { hits: 0, misses: 0, evictions: 0, offlineHits: 0 };

  constructor(
    private readonly inner: KeyStore,
    private readonly options: CacheOptions,
  ) {
    this.now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? Math.max(1000, Math.min(options.anyMs, options.unusedMs) / 2);
    if (every > 0) {
      this.sweeper = setInterval(() => this.sweep(), every);
      this.sweeper.unref();
    }
  }

  snapshot(): CacheStats {
    return { ...this.stats, bytes: this.bytes, entries: this.slots.size };
  }

  peek(name: string): Entry | undefined {
    const now = this.now();
    const slot = this.slots.get(name);
    if (!slot || now - slot.fetchedAt >= this.options.anyMs || now - slot.usedAt >= this.options.unusedMs) return undefined;
    slot.usedAt = now;
    // Re-insert to keep the Map in least-recently-used order.
    this.slots.delete(name);
    this.slots.set(name, slot);
    this.stats.hits++;
    return slot.entry;
  }

  async get(name: string): Promise<Entry> {
    const hit = this.peek(name);
    if (hit) return copy(hit);
    const now = this.now();
    this.stats.misses++;
    try {
      return copy(await this.fetch(name));
    } catch (err) {
      const stale = this.slots.get(name);
      if (err instanceof StoreUnreachableError && stale && this.options.offlineMs > 0 && now - stale.fetchedAt < this.options.offlineMs) {
        this.stats.offlineHits++;
        return copy(stale.entry);
      }
      throw err;
    }
  }

  private fetch(name: string): Promise<Entry> {
    const pending = this.inflight.get(name);
    if (pending) return pending;
    const gen = this.generation.get(name) ?? 0;
    const promise = this.inner
      .get(name)
      .then((entry) => {
        if ((this.generation.get(name) ?? 0) === gen) this.store(name, entry);
        return entry;
      })
      .finally(() => this.inflight.delete(name));
    this.inflight.set(name, promise);
    return promise;
  }

  private store(name: string, entry: Entry): void {
    this.drop(name);
    const size = entry.value.length + name.length + OVERHEAD;
    if (size > this.options.maxBytes) return;
    const now = this.now();
    this.slots.set(name, { entry, fetchedAt: now, usedAt: now, size });
    this.bytes += size;
    for (const [victim] of this.slots) {
      if (this.bytes <= this.options.maxBytes) break;
      this.drop(victim);
      this.stats.evictions++;
    }
  }

  private drop(name: string): void {
    const slot = this.slots.get(name);
    if (!slot) return;
    this.slots.delete(name);
    this.bytes -= slot.size;
  }

  private invalidate(name: string): void {
    this.generation.set(name, (this.generation.get(name) ?? 0) + 1);
    this.inflight.delete(name);
    this.drop(name);
  }

  /** Drops entries that can no longer be served, even offline (called periodically or by tests). */
  sweep(): void {
    const now = this.now();
    const keep = Math.max(this.options.anyMs, this.options.offlineMs);
    for (const [name, slot] of this.slots) {
      const idle = this.options.offlineMs === 0 && now - slot.usedAt >= this.options.unusedMs;
      if (now - slot.fetchedAt >= keep || idle) {
        this.drop(name);
        this.stats.evictions++;
      }
    }
    // Generation counters only matter while a fetch is in flight.
    for (const name of this.generation.keys()) if (!this.inflight.has(name)) this.generation.delete(name);
  }

  async create(name: string, value: Uint8Array): Promise<void> {
    this.invalidate(name);
    await this.inner.create(name, value);
  }

  async update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    this.invalidate(name);
    try {
      return await this.inner.update(name, value, expectedVersion);
    } finally {
      this.invalidate(name);
    }
  }

  async delete(name: string): Promise<void> {
    this.invalidate(name);
    try {
      await this.inner.delete(name);
    } finally {
      this.invalidate(name);
    }
  }

  list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    return this.inner.list(prefix, continueAt, limit);
  }

  status(): Promise<StoreStatus> {
    return this.inner.status();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.slots.clear();
    this.bytes = 0;
    await this.inner.close();
  }
}

function copy(entry: Entry): Entry {
  return { value: Buffer.from(entry.value), version: entry.version };
}
