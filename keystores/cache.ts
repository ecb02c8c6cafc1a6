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
 * serves its own stale write. Other replicas see it within `anyMs`, or at once when
 * they are told through `replicas` (the workers of one server).
 *
 * Some entries decide whether a credential still holds (tokens, groups, bans: `shortLived`):
 * a revocation written through one replica must reach the others sooner than `anyMs`
 * allows, so those entries are served for at most `shortLived.anyMs`.
 *
 * With `only`, the cache keeps nothing but entries under those prefixes: every other
 * read goes to the backend (and `peek` answers undefined), as if there were no cache.
 */
import {
  StoreUnreachableError,
  heldEntry,
  isRefusal,
  owned,
  type Entry,
  type HeldEntry,
  type KeyStore,
  type ListPage,
  type Peekable,
  type StoreStatus,
} from './keystore.js';

/**
 * The other caches in front of the same backend. A write returns only once they
 * dropped their copy, so a client that sees the write answered never reads the old
 * value through another replica.
 */
export interface CacheReplicas {
  /** Tells the other replicas that `name` changed; resolves once they dropped it, or gave up waiting. Never rejects. */
  wrote(name: string): Promise<void>;
  /** Calls `drop` with every name another replica wrote, until the returned function is called. */
  subscribe(drop: (name: string) => void): () => void;
}

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
  replicas?: CacheReplicas;
  /** Entries under these name prefixes are served for at most `anyMs` (when shorter than the cache's). */
  shortLived?: { prefixes: readonly string[]; anyMs: number };
  /** Cache only entries under these name prefixes; everything else passes straight through. */
  only?: readonly string[];
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
  entry: HeldEntry;
  fetchedAt: number;
  usedAt: number;
  size: number;
}

const OVERHEAD = 64;

export class CachedKeyStore implements KeyStore, Peekable {
  private readonly slots = new Map<string, Slot>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Bumped on every local write, so a fetch that raced a write does not cache the old value. */
  private readonly generation = new Map<string, number>();
  private readonly now: () => number;
  private bytes = 0;
  private readonly sweeper: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void) | undefined;
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
    this.unsubscribe = options.replicas?.subscribe((name) => this.invalidate(name));
  }

  snapshot(): CacheStats {
    return { ...this.stats, bytes: this.bytes, entries: this.slots.size };
  }

  /** The store behind the cache, for readers that must see the backend's current state (the housekeeping sweeper). */
  get backend(): KeyStore {
    return this.inner;
  }

  peek(name: string, asRead = true): HeldEntry | undefined {
    if (!this.caches(name)) return undefined;
    const now = this.now();
    const slot = this.slots.get(name);
    if (!slot || now - slot.fetchedAt >= this.maxAge(name) || now - slot.usedAt >= this.options.unusedMs) return undefined;
    if (!asRead) return slot.entry;
    slot.usedAt = now;
    // Re-insert to keep the Map in least-recently-used order.
    this.slots.delete(name);
    this.slots.set(name, slot);
    this.stats.hits++;
    return slot.entry;
  }

  async get(name: string): Promise<Entry> {
    if (!this.caches(name)) return this.inner.get(name);
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

  private store(name: string, fetched: Entry): void {
    this.drop(name);
    const size = fetched.value.length + name.length + OVERHEAD;
    if (size > this.options.maxBytes) return;
    const now = this.now();
    // A view into a larger buffer (a backend's read buffer, Node's pool) is copied out: cached, it would pin all of it.
    const entry = heldEntry(owned(fetched.value), fetched.version);
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

  /**
   * Forgets `name`: the next read goes to the backend, and a fetch already in
   * flight is not cached (it may have read the value from before the change).
   */
  invalidate(name: string): void {
    this.generation.set(name, (this.generation.get(name) ?? 0) + 1);
    this.inflight.delete(name);
    this.drop(name);
  }

  /** Whether `name` is kept at all (see `only`). */
  private caches(name: string): boolean {
    const only = this.options.only;
    return !only || underAny(name, only);
  }

  /** How long `name` may be served after it was fetched. */
  private maxAge(name: string): number {
    const short = this.options.shortLived;
    return short && short.anyMs < this.options.anyMs && underAny(name, short.prefixes) ? short.anyMs : this.options.anyMs;
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

  /**
   * Replicas are not told of creates: only a successful read is cached, so no replica
   * holds a name that did not exist (the delete before a re-create told them).
   */
  async create(name: string, value: Uint8Array): Promise<void> {
    this.invalidate(name);
    await this.inner.create(name, value);
  }

  async update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    return this.write(name, () => this.inner.update(name, value, expectedVersion));
  }

  async delete(name: string): Promise<void> {
    await this.write(name, () => this.inner.delete(name));
  }

  /** An update or delete: dropped here before and after, and at the replicas unless it certainly changed nothing. */
  private async write<T>(name: string, work: () => Promise<T>): Promise<T> {
    // No replica keeps what this cache does not keep: nothing to tell them then.
    const replicas = this.caches(name) ? this.options.replicas : undefined;
    this.invalidate(name);
    let result: T;
    try {
      result = await work();
    } catch (err) {
      this.invalidate(name);
      if (replicas && !unchanged(err)) await tell(replicas, name);
      throw err;
    }
    this.invalidate(name);
    if (replicas) await tell(replicas, name);
    return result;
  }

  list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    return this.inner.list(prefix, continueAt, limit);
  }

  status(): Promise<StoreStatus> {
    return this.inner.status();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe?.();
    this.slots.clear();
    this.bytes = 0;
    await this.inner.close();
  }
}

async function tell(replicas: CacheReplicas, name: string): Promise<void> {
  try {
    await replicas.wrote(name);
  } catch {
    // Promised never to reject; should it anyway, the write itself stands.
  }
}

/** The backend refused the write: no replica's copy went stale. */
const unchanged = isRefusal;

function copy(entry: Entry): Entry {
  return { value: Buffer.from(entry.value), version: entry.version };
}

/** Whether `name` starts with one of `prefixes`. */
function underAny(name: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) if (name.startsWith(p)) return true;
  return false;
}
