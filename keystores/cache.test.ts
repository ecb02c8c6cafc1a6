/** The cache decorator: KES expiry semantics, single-flight misses, byte bound, offline window. */
import { describe, expect, it } from 'vitest';
import { CachedKeyStore, type CacheOptions, type CacheReplicas } from './cache.js';
import { MemoryKeyStore } from './memory.js';
import { StoreUnreachableError, type Entry, type KeyStore } from './keystore.js';
import { keystoreContract } from './contract.js';

/** Wraps a store, counting gets and failing on demand like an unreachable backend. */
class Backend implements KeyStore {
  gets = 0;
  down = false;
  gate: Promise<void> | null = null;
  constructor(readonly inner = new MemoryKeyStore()) {}
  async get(name: string): Promise<Entry> {
    this.gets++;
    if (this.gate) await this.gate;
    if (this.down) throw new StoreUnreachableError('backend down');
    return this.inner.get(name);
  }
  create = (n: string, v: Uint8Array) => this.inner.create(n, v);
  update = (n: string, v: Uint8Array, e: string) => this.inner.update(n, v, e);
  delete = (n: string) => this.inner.delete(n);
  list = (p: string, c: string, l: number) => this.inner.list(p, c, l);
  status = () => this.inner.status();
  close = () => this.inner.close();
}

function setup(opts: Partial<CacheOptions> = {}) {
  let clock = 1_000_000;
  const backend = new Backend();
  const cache = new CachedKeyStore(backend, {
    anyMs: 300_000,
    unusedMs: 30_000,
    offlineMs: 0,
    maxBytes: 1 << 20,
    sweepIntervalMs: 0,
    now: () => clock,
    ...opts,
  });
  return { backend, cache, tick: (ms: number) => (clock += ms) };
}

keystoreContract('cache over memory', async () => ({
  store: new CachedKeyStore(new MemoryKeyStore(), { anyMs: 60_000, unusedMs: 30_000, offlineMs: 0, maxBytes: 64 << 20, sweepIntervalMs: 0 }),
}));

describe('CachedKeyStore', () => {
  it('peek answers from a fresh slot only: the same held object until it changes, never the backend', async () => {
    const { backend, cache, tick } = setup();
    await cache.create('k', Buffer.from('v1'));
    expect(cache.peek('k')).toBeUndefined(); // never read yet
    expect(cache.peek('missing')).toBeUndefined();
    const got = await cache.get('k');
    const held = cache.peek('k');
    expect(held?.value.toString()).toBe('v1');
    expect(cache.peek('k')).toBe(held);
    expect(got).not.toBe(held); // get hands out copies
    got.value.fill(0);
    expect(cache.peek('k')?.value.toString()).toBe('v1');
    expect(backend.gets).toBe(1);
    expect(cache.snapshot()).toMatchObject({ hits: 3, misses: 1 });

    tick(30_000); // unused for too long: peek no longer vouches for it
    expect(cache.peek('k')).toBeUndefined();
    await cache.update('k', Buffer.from('v2'), got.version);
    expect(cache.peek('k')).toBeUndefined(); // a local write drops the slot
    await cache.get('k');
    expect(cache.peek('k')?.value.toString()).toBe('v2');
    expect(cache.peek('k')).not.toBe(held);
  });

  it('peek with asRead false hands out the held entry without counting a hit or moving it up the eviction order', async () => {
    // Room for two entries: the least recently *read* one goes first.
    const { cache } = setup({ maxBytes: 2 * (1 + 64 + 100) });
    await cache.create('a', Buffer.alloc(100, 1));
    await cache.create('b', Buffer.alloc(100, 2));
    await cache.get('a');
    await cache.get('b');
    const before = cache.snapshot();
    const held = cache.peek('a', false);
    expect(held?.value[0]).toBe(1);
    expect(cache.peek('a', false)).toBe(held);
    expect(cache.snapshot()).toEqual(before); // no hit counted
    await cache.create('c', Buffer.alloc(100, 3));
    await cache.get('c'); // evicts 'a': peeking it without reading did not make it recent
    expect(cache.peek('a', false)).toBeUndefined();
    expect(cache.peek('b', false)?.value[0]).toBe(2);
  });

  it('keeps cached values in buffers of their own, not views that pin a larger buffer', async () => {
    const backing = Buffer.alloc(8192, 7);
    const pooled: KeyStore = {
      ...new Backend(),
      get: async () => ({ value: backing.subarray(100, 200), version: '1' }),
    } as KeyStore;
    const cache = new CachedKeyStore(pooled, { anyMs: 60_000, unusedMs: 60_000, offlineMs: 0, maxBytes: 1 << 20, sweepIntervalMs: 0 });
    await cache.get('k');
    const held = cache.peek('k');
    expect(held?.value.length).toBe(100);
    expect(held?.value.buffer.byteLength).toBe(100);
    expect(held?.value.equals(backing.subarray(100, 200))).toBe(true);
  });

  it('serves repeated reads from memory until `unused` passes without a read', async () => {
    const { backend, cache, tick } = setup();
    await cache.create('k', Buffer.from('v1'));
    await cache.get('k');
    tick(20_000);
    await cache.get('k');
    tick(20_000);
    await cache.get('k');
    expect(backend.gets).toBe(1);
    tick(31_000);
    await cache.get('k');
    expect(backend.gets).toBe(2);
  });

  it('refetches after `any`, however often the entry is read', async () => {
    const { backend, cache, tick } = setup({ anyMs: 60_000 });
    await cache.create('k', Buffer.from('v'));
    for (let i = 0; i < 7; i++) {
      await cache.get('k');
      tick(10_000);
    }
    expect(backend.gets).toBe(2);
  });

  it('does one backend fetch for concurrent misses of one name', async () => {
    const { backend, cache } = setup();
    await cache.create('k', Buffer.from('v'));
    let open!: () => void;
    backend.gate = new Promise((r) => (open = r));
    const reads = Array.from({ length: 50 }, () => cache.get('k'));
    open();
    const values = await Promise.all(reads);
    expect(backend.gets).toBe(1);
    expect(values.every((e) => e.value.toString() === 'v')).toBe(true);
  });

  it('never serves its own stale write: update and delete drop the cached copy', async () => {
    const { cache } = setup();
    await cache.create('k', Buffer.from('old'));
    const { version } = await cache.get('k');
    await cache.update('k', Buffer.from('new'), version);
    expect((await cache.get('k')).value.toString()).toBe('new');
    await cache.delete('k');
    await expect(cache.get('k')).rejects.toThrow(/does not exist/);
  });

  it('does not cache a value fetched while a write raced it', async () => {
    const { backend, cache } = setup();
    await cache.create('k', Buffer.from('old'));
    let open!: () => void;
    backend.gate = new Promise((r) => (open = r));
    const racing = cache.get('k');
    const { version } = await backend.inner.get('k');
    await cache.update('k', Buffer.from('new'), version);
    open();
    await racing;
    backend.gate = null;
    expect((await cache.get('k')).value.toString()).toBe('new');
  });

  it('serves cached entries while the backend is unreachable, within the offline window only', async () => {
    const { backend, cache, tick } = setup({ anyMs: 60_000, offlineMs: 600_000 });
    await cache.create('k', Buffer.from('v'));
    await cache.get('k');
    backend.down = true;
    tick(120_000); // past `any`: a refetch is due, but the backend is down
    expect((await cache.get('k')).value.toString()).toBe('v');
    expect(cache.snapshot().offlineHits).toBe(1);
    tick(500_000); // past the offline window since the last successful fetch
    await expect(cache.get('k')).rejects.toBeInstanceOf(StoreUnreachableError);
    backend.down = false;
    expect((await cache.get('k')).value.toString()).toBe('v');
  });

  it('fails unreachable reads at once when offline caching is off', async () => {
    const { backend, cache, tick } = setup({ anyMs: 60_000 });
    await cache.create('k', Buffer.from('v'));
    await cache.get('k');
    backend.down = true;
    tick(61_000);
    await expect(cache.get('k')).rejects.toBeInstanceOf(StoreUnreachableError);
  });

  it('stays within its byte bound, evicting the least recently used', async () => {
    const { backend, cache } = setup({ maxBytes: 3 * (1000 + 64 + 2) });
    for (const n of ['a1', 'a2', 'a3', 'a4']) await cache.create(n, Buffer.alloc(1000));
    for (const n of ['a1', 'a2', 'a3']) await cache.get(n);
    await cache.get('a1'); // a1 becomes most recent; a2 is now the oldest
    await cache.get('a4');
    const snap = cache.snapshot();
    expect(snap.entries).toBe(3);
    expect(snap.bytes).toBeLessThanOrEqual(3 * 1066);
    expect(snap.evictions).toBe(1);
    const before = backend.gets;
    await cache.get('a1');
    expect(backend.gets).toBe(before);
    await cache.get('a2');
    expect(backend.gets).toBe(before + 1);
  });

  it('sweeps entries that can no longer be served', async () => {
    const { cache, tick } = setup({ anyMs: 60_000, unusedMs: 30_000 });
    await cache.create('k', Buffer.from('v'));
    await cache.get('k');
    tick(31_000);
    cache.sweep();
    expect(cache.snapshot().entries).toBe(0);
  });
});

/** Replicas that record what they were told and let the test decide when they have dropped it. */
function fakeReplicas() {
  const told: string[] = [];
  let release = () => {};
  let drop: (name: string) => void = () => {};
  let subscribed = 0;
  const replicas: CacheReplicas = {
    wrote: (name) => {
      told.push(name);
      return new Promise<void>((resolve) => (release = resolve));
    },
    subscribe: (d) => {
      drop = d;
      subscribed++;
      return () => void subscribed--;
    },
  };
  return { replicas, told, release: () => release(), drop: (name: string) => drop(name), subscribed: () => subscribed };
}

describe('CachedKeyStore with replicas', () => {
  it('answers an update or delete only once the replicas dropped the name', async () => {
    const r = fakeReplicas();
    const { cache } = setup({ replicas: r.replicas });
    await cache.create('k', Buffer.from('v1'));
    expect(r.told).toEqual([]); // no replica can hold a name that did not exist
    const { version } = await cache.get('k');
    let answered = false;
    const update = cache.update('k', Buffer.from('v2'), version).then(() => (answered = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.told).toEqual(['k']);
    expect(answered).toBe(false);
    r.release();
    await update;
    const del = cache.delete('k');
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.told).toEqual(['k', 'k']);
    r.release();
    await del;
  });

  it('tells nobody of a write the backend refused', async () => {
    const r = fakeReplicas();
    const { cache } = setup({ replicas: r.replicas });
    await cache.create('k', Buffer.from('v1'));
    await expect(cache.create('k', Buffer.from('v2'))).rejects.toThrow(/already exists/);
    await expect(cache.update('k', Buffer.from('v2'), 'not-the-version')).rejects.toThrow(/changed concurrently/);
    await expect(cache.delete('missing')).rejects.toThrow(/does not exist/);
    expect(r.told).toEqual([]);
  });

  it('drops what another replica wrote, and does not cache a fetch that was in flight', async () => {
    const r = fakeReplicas();
    const { backend, cache } = setup({ replicas: r.replicas });
    await cache.create('k', Buffer.from('v1'));
    await cache.get('k');
    expect(cache.peek('k')?.value.toString()).toBe('v1');
    // Another replica replaces it behind this cache's back, then says so.
    const { version } = await backend.inner.get('k');
    await backend.inner.update('k', Buffer.from('v2'), version);
    r.drop('k');
    expect(cache.peek('k')).toBeUndefined();
    expect((await cache.get('k')).value.toString()).toBe('v2');

    // A fetch in flight when the word comes may carry the old value: it is answered, not cached.
    r.drop('k');
    let open = () => {};
    backend.gate = new Promise<void>((resolve) => (open = resolve));
    const racing = cache.get('k');
    r.drop('k');
    open();
    backend.gate = null;
    await racing;
    expect(cache.peek('k')).toBeUndefined();
  });

  it('stops listening when closed', async () => {
    const r = fakeReplicas();
    const { cache } = setup({ replicas: r.replicas });
    expect(r.subscribed()).toBe(1);
    await cache.close();
    expect(r.subscribed()).toBe(0);
  });
});

describe('CachedKeyStore: short-lived entries (revocation across replicas)', () => {
  it('serves entries under the short-lived prefixes for at most their own bound, the rest for anyMs', async () => {
    const { backend, cache, tick } = setup({ unusedMs: 600_000, shortLived: { prefixes: ['token.', 'group.'], anyMs: 10_000 } });
    for (const n of ['token.abc', 'group.edge', 'bundle.web']) await backend.inner.create(n, Buffer.from('v1'));
    for (const n of ['token.abc', 'group.edge', 'bundle.web']) await cache.get(n);
    expect(backend.gets).toBe(3);
    // Another replica revokes the token, rotates the group and replaces the bundle.
    await backend.inner.delete('token.abc');
    const group = await backend.inner.get('group.edge');
    await backend.inner.update('group.edge', Buffer.from('v2'), group.version);
    const bundle = await backend.inner.get('bundle.web');
    await backend.inner.update('bundle.web', Buffer.from('v2'), bundle.version);

    tick(9_999);
    expect((await cache.get('token.abc')).value.toString()).toBe('v1');
    tick(1);
    await expect(cache.get('token.abc')).rejects.toThrow();
    expect((await cache.get('group.edge')).value.toString()).toBe('v2');
    expect((await cache.get('bundle.web')).value.toString()).toBe('v1');
    tick(290_000);
    expect((await cache.get('bundle.web')).value.toString()).toBe('v2');
  });

  it('never lengthens an entry beyond anyMs', async () => {
    const { backend, cache, tick } = setup({ anyMs: 5_000, shortLived: { prefixes: ['token.'], anyMs: 60_000 } });
    await backend.inner.create('token.x', Buffer.from('v1'));
    await cache.get('token.x');
    await backend.inner.delete('token.x');
    tick(5_000);
    await expect(cache.get('token.x')).rejects.toThrow();
  });
});

describe('CachedKeyStore: only some entries (the cache turned off but for group records)', () => {
  it('keeps entries under `only` within anyMs, passes every other read and peek to the backend, and tells replicas only of kept names', async () => {
    const r = fakeReplicas();
    const { backend, cache, tick } = setup({ anyMs: 10_000, unusedMs: 10_000, only: ['group.'], replicas: r.replicas });
    for (const n of ['group.edge', 'token.abc', 'cert.web']) await backend.inner.create(n, Buffer.from('v1'));
    for (let i = 0; i < 3; i++) for (const n of ['group.edge', 'token.abc', 'cert.web']) await cache.get(n);
    expect(backend.gets).toBe(1 + 3 + 3);
    expect(cache.peek('token.abc')).toBeUndefined();
    expect(cache.peek('cert.web')).toBeUndefined();
    expect(cache.peek('group.edge')?.value.toString()).toBe('v1');
    // A revoked token is gone at once, a group changed elsewhere within anyMs.
    await backend.inner.delete('token.abc');
    await expect(cache.get('token.abc')).rejects.toThrow();
    const g = await backend.inner.get('group.edge');
    await backend.inner.update('group.edge', Buffer.from('v2'), g.version);
    expect((await cache.get('group.edge')).value.toString()).toBe('v1');
    tick(10_000);
    expect((await cache.get('group.edge')).value.toString()).toBe('v2');
    // Writes to names it does not keep need no word to the replicas.
    const c = await cache.get('cert.web');
    await cache.update('cert.web', Buffer.from('v2'), c.version);
    expect(r.told).toEqual([]);
    const del = cache.delete('group.edge');
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.told).toEqual(['group.edge']);
    r.release();
    await del;
  });
});
