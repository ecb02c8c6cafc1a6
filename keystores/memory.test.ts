/** The in-memory keystore: the contract, its versions, and listing cost at 100k entries. */
import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from './memory.js';
import { lowerBound, pageFrom } from './listing.js';
import { checkAgainstModel, keystoreContract } from './contract.js';
import { MAX_LIST_PAGE } from './keystore.js';

keystoreContract('memory', async () => ({ store: new MemoryKeyStore() }));

describe('MemoryKeyStore', () => {
  it('versions every write from one increasing counter, so a re-created entry never reuses a version', async () => {
    const store = new MemoryKeyStore();
    await store.create('a', Buffer.from('1'));
    const v1 = (await store.get('a')).version;
    const v2 = await store.update('a', Buffer.from('1'), v1);
    await store.create('b', Buffer.from('x'));
    await store.delete('a');
    await store.create('a', Buffer.from('1'));
    const v3 = (await store.get('a')).version;
    expect(Number(v2)).toBeGreaterThan(Number(v1));
    expect(Number(v3)).toBeGreaterThan(Number(v2));
    // Same bytes, new write: unlike content-hashed versions, the old version is stale.
    await expect(store.update('a', Buffer.from('2'), v1)).rejects.toThrow(/changed concurrently/);
  });

  it('keeps its lazy index right across bursts of writes below and above the splice limit', async () => {
    // Long runs with few lists: many changes pile up between listings, exercising the merge path too.
    await checkAgainstModel(new MemoryKeyStore(), 200, 150);
    const store = new MemoryKeyStore();
    const live = new Set<string>();
    for (let round = 0; round < 40; round++) {
      const changes = round % 2 === 0 ? 5 : 300;
      for (let i = 0; i < changes; i++) {
        const name = `n${Math.floor(Math.random() * 500)}`;
        if (live.has(name)) {
          await store.delete(name);
          live.delete(name);
        } else {
          await store.create(name, Buffer.from(name));
          live.add(name);
        }
      }
      const listed: string[] = [];
      let continueAt = '';
      do {
        const page = await store.list('', continueAt, MAX_LIST_PAGE);
        listed.push(...page.names);
        continueAt = page.continueAt;
      } while (continueAt !== '');
      expect(listed).toEqual([...live].sort());
    }
  });

  it('lists 100k entries quickly: bulk load, full paging, and writes interleaved with lists', async () => {
    const store = new MemoryKeyStore();
    const N = 100_000;
    const names = Array.from({ length: N }, (_, i) => `key-${((i * 7919) % N).toString().padStart(6, '0')}`);
    const value = Buffer.from('v');
    let t = performance.now();
    for (const n of names) await store.create(n, value);
    let listed = 0;
    let continueAt = '';
    do {
      const page = await store.list('', continueAt, MAX_LIST_PAGE);
      listed += page.names.length;
      continueAt = page.continueAt;
    } while (continueAt !== '');
    const bulk = performance.now() - t;
    expect(listed).toBe(N);

    t = performance.now();
    for (let i = 0; i < 2000; i++) {
      await store.create(`new-${i}`, value);
      await store.delete(names[i] as string);
      const page = await store.list('key-', names[(i * 31) % N] as string, 100);
      expect(page.names.length).toBeGreaterThan(0);
    }
    const interleaved = performance.now() - t;
    // Bounds far above what a laptop needs (about 0.3 s and 0.2 s): they only catch quadratic behaviour.
    expect(bulk).toBeLessThan(5_000);
    expect(interleaved).toBeLessThan(5_000);
  });
});

describe('pageFrom / lowerBound', () => {
  const sorted = ['a', 'ab', 'abc', 'b', 'ba', 'c'];

  it('finds the first element not below the key', () => {
    expect(lowerBound(sorted, '')).toBe(0);
    expect(lowerBound(sorted, 'ab')).toBe(1);
    expect(lowerBound(sorted, 'abb')).toBe(2);
    expect(lowerBound(sorted, 'bz')).toBe(5);
    expect(lowerBound(sorted, 'd')).toBe(6);
    expect(lowerBound([], 'a')).toBe(0);
  });

  it('pages within a prefix and points at the next match only', () => {
    expect(pageFrom(sorted, 'a', '', 2)).toEqual({ names: ['a', 'ab'], continueAt: 'abc' });
    expect(pageFrom(sorted, 'a', 'abc', 2)).toEqual({ names: ['abc'], continueAt: '' });
    expect(pageFrom(sorted, 'b', 'a', 10)).toEqual({ names: ['b', 'ba'], continueAt: '' });
    expect(pageFrom(sorted, 'a', 'b', 10)).toEqual({ names: [], continueAt: '' });
  });
});
