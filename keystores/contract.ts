/**
 * The contract every keystore adapter passes: the behaviour `keystore.ts`
 * documents, checked the same way against each backend. An adapter's test file
 * calls `keystoreContract` once with a factory for fresh, empty stores.
 *
 * Tests only ever observe the store through the interface, so they hold for a
 * decorator (the cache) as well as for a backend. Versions are compared only
 * for equality, and every write in here uses bytes no earlier write used, so
 * content-hashed versions (fs, Vault KV v1) are held to the same checks as
 * counters.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import {
  EntryExistsError,
  EntryNotFoundError,
  InvalidEntryNameError,
  MAX_ENTRY_NAME,
  MAX_LIST_PAGE,
  StoreError,
  VersionMismatchError,
  isPeekable,
  type KeyStore,
  type ListPage,
} from './keystore.js';
import { listKind, pastDottedBlock } from './listing.js';

export type MakeStore = () => Promise<{ store: KeyStore; cleanup?: () => Promise<void> }>;

export interface ContractOptions {
  /**
   * False for a backend with no atomic create-if-absent (Vault KV v1): then
   * concurrent creates of one name may all succeed and the suite only checks
   * that the stored value is one of theirs. Default true.
   */
  atomicCreate?: boolean;
}

/** Names no method accepts (for `list`, '' is a valid prefix and continueAt, so it is skipped there). */
export const INVALID_NAMES: readonly string[] = [
  '',
  'a'.repeat(MAX_ENTRY_NAME + 1),
  '.',
  '..',
  '.hidden',
  '.tmp-0123',
  'a/b',
  '/abs',
  '../x',
  // Vault's KV v1 refuses '..' anywhere in a path: no adapter takes it.
  'a..b',
  'x..',
  'a\\b',
  'a\0b',
  'a b',
  'a:b',
  'ä',
  'a\n',
];

/**
 * Declares the contract suite for one adapter. `make` is called once per test
 * (and once for the shared listing fixture) and must return an empty store;
 * the suite closes every store it made and then runs `cleanup`.
 */
export function keystoreContract(name: string, make: MakeStore, options: ContractOptions = {}): void {
  const atomicCreate = options.atomicCreate ?? true;

  describe(`keystore contract: ${name}`, () => {
    /** Registers hooks that give each test of the enclosing block a fresh store. */
    function freshStore(): () => KeyStore {
      let store: KeyStore | undefined;
      let cleanup: (() => Promise<void>) | undefined;
      beforeEach(async () => {
        const made = await make();
        store = made.store;
        cleanup = made.cleanup;
      });
      afterEach(async () => {
        await store?.close();
        await cleanup?.();
        store = undefined;
        cleanup = undefined;
      });
      return () => {
        if (!store) throw new Error('contract: no store outside a test');
        return store;
      };
    }

    describe('entries', () => {
      const s = freshStore();

      it('round-trips binary values exactly: every byte value, NULs, invalid UTF-8, empty, 1 MiB', async () => {
        const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const values: Record<string, Buffer> = {
          'all-bytes': allBytes,
          nuls: Buffer.alloc(64),
          'nul-edges': Buffer.from([0, 0x41, 0, 0x42, 0]),
          'bad-utf8': Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]),
          text: Buffer.from('{"kind":"text","ok":true}\n'),
          empty: Buffer.alloc(0),
          big: randomBytes(1 << 20),
        };
        for (const [n, v] of Object.entries(values)) await s().create(n, v);
        for (const [n, v] of Object.entries(values)) {
          const entry = await s().get(n);
          expect(Buffer.isBuffer(entry.value), n).toBe(true);
          expect(entry.value.equals(v), n).toBe(true);
          expect(typeof entry.version, n).toBe('string');
          expect(entry.version.length, n).toBeGreaterThan(0);
        }
      });

      it('accepts any Uint8Array, not only Buffers', async () => {
        const bytes = new Uint8Array([1, 2, 3, 0, 255]);
        await s().create('u8', bytes.subarray(1, 4));
        expect([...(await s().get('u8')).value]).toEqual([2, 3, 0]);
      });

      it('refuses a second create with EntryExistsError and keeps the first value and version', async () => {
        await s().create('k', Buffer.from('first'));
        const before = await s().get('k');
        await expect(s().create('k', Buffer.from('second'))).rejects.toBeInstanceOf(EntryExistsError);
        const after = await s().get('k');
        expect(after.value.toString()).toBe('first');
        expect(after.version).toBe(before.version);
      });

      it(
        atomicCreate
          ? 'lets exactly one of 20 concurrent creates of one name succeed, and stores its value'
          : 'stores one of the values of 20 concurrent creates of one name',
        async () => {
          const values = Array.from({ length: 20 }, (_, i) => Buffer.from(`writer-${i}-${randomBytes(8).toString('hex')}`));
          const results = await Promise.allSettled(values.map((v) => s().create('race', v)));
          const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(EntryExistsError);
          const stored = (await s().get('race')).value;
          if (atomicCreate) {
            expect(won).toHaveLength(1);
            expect(stored.equals(values[won[0] as number] as Buffer)).toBe(true);
          } else {
            expect(won.length).toBeGreaterThanOrEqual(1);
            expect(won.some((i) => stored.equals(values[i] as Buffer))).toBe(true);
          }
        },
      );

      it('answers get, update and delete of a missing entry with EntryNotFoundError', async () => {
        await s().create('present', Buffer.from('x'));
        const { version } = await s().get('present');
        await expect(s().get('missing')).rejects.toBeInstanceOf(EntryNotFoundError);
        await expect(s().delete('missing')).rejects.toBeInstanceOf(EntryNotFoundError);
        await expect(s().update('missing', Buffer.from('y'), version)).rejects.toBeInstanceOf(EntryNotFoundError);
        await expect(s().update('missing', Buffer.from('y'), '')).rejects.toBeInstanceOf(EntryNotFoundError);
        // Failed calls on a missing name must not have created it.
        await expect(s().get('missing')).rejects.toBeInstanceOf(EntryNotFoundError);
        expect((await s().list('', '', 10)).names).toEqual(['present']);
      });

      it('refuses an update with a stale or made-up version and leaves the value unchanged', async () => {
        await s().create('k', Buffer.from('v1'));
        const v1 = (await s().get('k')).version;
        const v2 = await s().update('k', Buffer.from('v2'), v1);
        await expect(s().update('k', Buffer.from('v3'), v1)).rejects.toBeInstanceOf(VersionMismatchError);
        for (const made of ['', 'nonsense', '0', '-1', `${v2}x`]) {
          await expect(s().update('k', Buffer.from('v3'), made), made).rejects.toBeInstanceOf(VersionMismatchError);
        }
        const now = await s().get('k');
        expect(now.value.toString()).toBe('v2');
        expect(now.version).toBe(v2);
      });

      it('applies an update with the current version: the value changes and so does the version', async () => {
        await s().create('k', Buffer.from('old'));
        const old = await s().get('k');
        const next = await s().update('k', Buffer.from('new'), old.version);
        expect(typeof next).toBe('string');
        expect(next).not.toBe(old.version);
        const now = await s().get('k');
        expect(now.value.toString()).toBe('new');
        expect(now.version).toBe(next);
        const third = await s().update('k', Buffer.from('newer'), next);
        expect(third).not.toBe(next);
        expect((await s().get('k')).value.toString()).toBe('newer');
      });

      it('lets exactly one of 10 concurrent updates from one version win', async () => {
        await s().create('k', Buffer.from('base'));
        const { version } = await s().get('k');
        const values = Array.from({ length: 10 }, (_, i) => Buffer.from(`update-${i}`));
        const results = await Promise.allSettled(values.map((v) => s().update('k', v, version)));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionMismatchError);
        const now = await s().get('k');
        expect(now.value.equals(values[won[0] as number] as Buffer)).toBe(true);
        expect(now.version).toBe((results[won[0] as number] as PromiseFulfilledResult<string>).value);
      });

      it('deletes an entry for good, and a new create of the name works', async () => {
        await s().create('k', Buffer.from('one'));
        await s().create('other', Buffer.from('stays'));
        await s().delete('k');
        await expect(s().get('k')).rejects.toBeInstanceOf(EntryNotFoundError);
        await expect(s().delete('k')).rejects.toBeInstanceOf(EntryNotFoundError);
        expect((await s().list('', '', 10)).names).toEqual(['other']);
        await s().create('k', Buffer.from('two'));
        const again = await s().get('k');
        expect(again.value.toString()).toBe('two');
        expect((await s().update('k', Buffer.from('three'), again.version)).length).toBeGreaterThan(0);
        expect((await s().get('k')).value.toString()).toBe('three');
        expect((await s().get('other')).value.toString()).toBe('stays');
      });

      it('refuses an update holding a version of a deleted entry after the name was re-created (no ABA)', async () => {
        // Both lives get the same number of writes: a per-name counter that restarts (KV v2) would match.
        await s().create('k', Buffer.from('first life'));
        let version = (await s().get('k')).version;
        version = await s().update('k', Buffer.from('first life, again'), version);
        const stale = await s().update('k', Buffer.from('first life, last'), version);
        await s().delete('k');
        await s().create('k', Buffer.from('second life'));
        let now = (await s().get('k')).version;
        now = await s().update('k', Buffer.from('second life, again'), now);
        now = await s().update('k', Buffer.from('second life, now'), now);
        await expect(s().update('k', Buffer.from('stale writer'), stale)).rejects.toBeInstanceOf(VersionMismatchError);
        const after = await s().get('k');
        expect(after.value.toString()).toBe('second life, now');
        expect(after.version).toBe(now);
        // Straight after the re-create too.
        await s().delete('k');
        await s().create('k', Buffer.from('third life'));
        await expect(s().update('k', Buffer.from('stale writer'), now)).rejects.toBeInstanceOf(VersionMismatchError);
        expect((await s().get('k')).value.toString()).toBe('third life');
      });

      it('copies values in and out: callers mutating their buffers never change the store', async () => {
        const input = Buffer.from('original');
        const pending = s().create('k', input);
        input.fill(0x58); // while the create may still be in flight
        await pending;
        input.write('mutated!');
        expect((await s().get('k')).value.toString()).toBe('original');

        const out = await s().get('k');
        out.value.fill(0);
        expect((await s().get('k')).value.toString()).toBe('original');

        const next = Buffer.from('replaced');
        const updating = s().update('k', next, out.version);
        next.fill(0x59);
        await updating;
        expect((await s().get('k')).value.toString()).toBe('replaced');

        const backing = new Uint8Array([1, 2, 3, 4]);
        await s().create('view', backing.subarray(1, 3));
        backing[1] = 99;
        expect([...(await s().get('view')).value]).toEqual([2, 3]);
      });

      it('peek, where offered, never contradicts get: undefined, or the current value and version', async () => {
        const store = s();
        if (!isPeekable(store)) return;
        const agrees = async (name: string) => {
          for (const seen of [store.peek(name), store.peek(name, false)]) {
            if (seen === undefined) continue;
            const got = await store.get(name);
            expect(seen.value.equals(got.value)).toBe(true);
            expect(seen.version).toBe(got.version);
          }
        };
        await store.create('k', Buffer.from('one'));
        await agrees('k');
        const first = await store.get('k');
        await agrees('k');
        await store.update('k', Buffer.from('two'), first.version);
        await agrees('k');
        await store.get('k');
        await agrees('k');
        await store.delete('k');
        expect(store.peek('k')).toBeUndefined();
        expect(store.peek('never')).toBeUndefined();
        expect(store.peek('bad/name')).toBeUndefined();
      });

      it('answers status with a finite, non-negative latency', async () => {
        const { latencyMs } = await s().status();
        expect(Number.isFinite(latencyMs)).toBe(true);
        expect(latencyMs).toBeGreaterThanOrEqual(0);
      });

      it('rejects every call with a StoreError after close(), and close() twice is fine', async () => {
        await s().create('k', Buffer.from('v'));
        const { version } = await s().get('k');
        await s().close();
        await s().close();
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['create', () => s().create('new', Buffer.from('v'))],
          ['get', () => s().get('k')],
          ['update', () => s().update('k', Buffer.from('w'), version)],
          ['delete', () => s().delete('k')],
          ['list', () => s().list('', '', 10)],
          ['status', () => s().status()],
        ];
        for (const [method, call] of calls) await expect(call(), method).rejects.toBeInstanceOf(StoreError);
      });
    });

    describe('names', () => {
      const s = freshStore();

      it('accepts names of 1 and 255 characters, every allowed character, and dots after the first', async () => {
        const names = ['a', '0', '_', '-', 'x'.repeat(MAX_ENTRY_NAME), 'AZaz09_-.', 'key.v1', 'a.b.', 'a.', '-.-'];
        for (const n of names) {
          await s().create(n, Buffer.from(n));
          const { value, version } = await s().get(n);
          expect(value.toString(), n).toBe(n);
          await s().update(n, Buffer.from(`${n}!`), version);
          expect((await s().get(n)).value.toString(), n).toBe(`${n}!`);
          expect((await s().list(n, n, 1)).names, n).toEqual([n]);
        }
        expect((await s().list('', '', 100)).names).toEqual([...names].sort());
        for (const n of names) await s().delete(n);
        expect((await s().list('', '', 100)).names).toEqual([]);
      });

      it('rejects invalid names with InvalidEntryNameError on every method, and stores nothing', async () => {
        await s().create('valid', Buffer.from('v'));
        const { version } = await s().get('valid');
        for (const bad of INVALID_NAMES) {
          const label = JSON.stringify(bad.slice(0, 20));
          await expect(s().create(bad, Buffer.from('v')), `create ${label}`).rejects.toBeInstanceOf(InvalidEntryNameError);
          await expect(s().get(bad), `get ${label}`).rejects.toBeInstanceOf(InvalidEntryNameError);
          await expect(s().update(bad, Buffer.from('v'), version), `update ${label}`).rejects.toBeInstanceOf(InvalidEntryNameError);
          await expect(s().delete(bad), `delete ${label}`).rejects.toBeInstanceOf(InvalidEntryNameError);
          if (bad !== '') {
            await expect(s().list(bad, '', 10), `list prefix ${label}`).rejects.toBeInstanceOf(InvalidEntryNameError);
            await expect(s().list('', bad, 10), `list continueAt ${label}`).rejects.toBeInstanceOf(InvalidEntryNameError);
          }
        }
        expect((await s().list('', '', 100)).names).toEqual(['valid']);
      });
    });

    describe('listing', () => {
      const s = freshStore();

      it('lists an empty store as an empty last page', async () => {
        expect(await s().list('', '', 10)).toEqual({ names: [], continueAt: '' });
        expect(await s().list('a', '', MAX_LIST_PAGE)).toEqual({ names: [], continueAt: '' });
        expect(await s().list('', 'zzz', 1)).toEqual({ names: [], continueAt: '' });
      });

      it('sorts by code unit, so every backend agrees on page boundaries', async () => {
        const names = ['b', 'B', 'a', 'A', '0', '9', '_', '-', 'a-', 'a.', 'a_', 'aa', 'a0', 'a.b', 'Z'];
        for (const n of shuffle(names)) await s().create(n, Buffer.from(n));
        const expected = [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        expect((await s().list('', '', 100)).names).toEqual(expected);
        expect(await collect(s(), '', 2)).toEqual(expected);
      });

      it('ends a page that exactly exhausts the listing with continueAt ""', async () => {
        for (const n of ['p1', 'p2', 'p3', 'q1']) await s().create(n, Buffer.from(n));
        expect(await s().list('p', '', 3)).toEqual({ names: ['p1', 'p2', 'p3'], continueAt: '' });
        expect(await s().list('p', '', 2)).toEqual({ names: ['p1', 'p2'], continueAt: 'p3' });
        expect(await s().list('', '', 4)).toEqual({ names: ['p1', 'p2', 'p3', 'q1'], continueAt: '' });
        expect(await s().list('', '', 3)).toEqual({ names: ['p1', 'p2', 'p3'], continueAt: 'q1' });
      });

      it('sees creates and deletes made between pages', async () => {
        for (const n of ['a', 'c', 'e', 'g']) await s().create(n, Buffer.from(n));
        const first = await s().list('', '', 2);
        expect(first).toEqual({ names: ['a', 'c'], continueAt: 'e' });
        await s().delete('e');
        await s().create('f', Buffer.from('f'));
        await s().create('b', Buffer.from('b')); // before the cursor: not on later pages
        expect(await s().list('', first.continueAt, 2)).toEqual({ names: ['f', 'g'], continueAt: '' });
      });

      it('agrees with a model under random creates, updates, deletes and lists', async () => {
        await checkAgainstModel(s(), 25, 40);
      });
    });

    describe(`listing ${LISTED} entries`, () => {
      let store: KeyStore;
      let cleanup: (() => Promise<void>) | undefined;
      const all = fixtureNames();

      beforeAll(async () => {
        const made = await make();
        store = made.store;
        cleanup = made.cleanup;
        // In parallel batches: backends that fsync or round-trip per create are latency-bound.
        const order = shuffle(all);
        for (let i = 0; i < order.length; i += 50) {
          await Promise.all(order.slice(i, i + 50).map((n) => store.create(n, Buffer.from(n))));
        }
      }, 120_000);
      afterAll(async () => {
        await store?.close();
        await cleanup?.();
      });

      it.each([1024, 1000, 7])('pages with limit %i through every name exactly once, sorted', async (limit) => {
        const pages = await pagesOf(store, '', limit);
        const expectedPageSize = Math.min(limit, MAX_LIST_PAGE);
        pages.forEach((page, i) => {
          if (i < pages.length - 1) expect(page.names).toHaveLength(expectedPageSize);
          expect(page.names.length).toBeLessThanOrEqual(expectedPageSize);
          expect(page.continueAt).toBe(pages[i + 1]?.names[0] ?? '');
        });
        expect(pages.flatMap((p) => p.names)).toEqual(all);
      });

      it('never returns more than MAX_LIST_PAGE names, whatever the limit', async () => {
        const page = await store.list('', '', 1_000_000);
        expect(page.names).toEqual(all.slice(0, MAX_LIST_PAGE));
        expect(page.continueAt).toBe(all[MAX_LIST_PAGE]);
      });

      it('filters by prefix, including prefixes that are whole names and prefixes with dots', async () => {
        for (const prefix of ['key-1', 'key-10', 'cert.', 'cert.00', 'group.', 'k', 'key-0001', 'nomatch', 'Z']) {
          const expected = all.filter((n) => n.startsWith(prefix));
          expect(await collect(store, prefix, 100), prefix).toEqual(expected);
        }
        expect(all.filter((n) => n.startsWith('key-0001'))).toEqual(['key-0001']);
      });

      it('resumes at continueAt inclusively, also from names that do not exist', async () => {
        const at = all[1234] as string;
        const page = await store.list('', at, 5);
        expect(page.names).toEqual(all.slice(1234, 1239));
        expect(page.continueAt).toBe(all[1239]);
        // Just after `at` in sort order but not an entry: starts at the next name.
        expect((await store.list('', `${at}-`, 1)).names).toEqual([all.find((n) => n > `${at}-`)]);
        // continueAt before the prefix starts at the prefix; after every match it ends the listing.
        expect((await store.list('key-', 'a', 2)).names).toEqual(all.filter((n) => n.startsWith('key-')).slice(0, 2));
        expect(await store.list('cert.', 'key-', 10)).toEqual({ names: [], continueAt: '' });
        expect(await store.list('', 'zzzz', 10)).toEqual({ names: [], continueAt: '' });
        const last = all[all.length - 1] as string;
        expect(await store.list('', last, 10)).toEqual({ names: [last], continueAt: '' });
      });

      it('resumes with continueAt inside a prefix listing', async () => {
        const keys = all.filter((n) => n.startsWith('key-'));
        const first = await store.list('key-', '', 10);
        expect(first.names).toEqual(keys.slice(0, 10));
        const second = await store.list('key-', first.continueAt, 10);
        expect(second.names).toEqual(keys.slice(10, 20));
      });

      // listKind relies on exactly what this suite checks above (inclusive cursors that need not
      // exist, prefix filtering); run it here so every adapter is held to it.
      it.each([
        ['block skips', true],
        ['one by one', false],
      ])('listKind pages one kind past every other (%s): each name once, every cursor of the kind', async (_, skip) => {
        const isKey = (n: string) => n.startsWith('key-');
        const kind = { owns: isKey, ...(skip ? { skipTo: pastDottedBlock('') } : {}) };
        for (const [prefix, limit] of [
          ['', 7],
          ['', 1000],
          ['key-1', 100],
        ] as const) {
          const seen: string[] = [];
          let cursor = '';
          do {
            const page = await listKind(store, prefix, cursor, limit, kind);
            expect(page.names.length).toBeLessThanOrEqual(limit);
            if (page.continueAt !== '') expect(page.names.length, 'only the last page is short').toBe(limit);
            if (page.continueAt !== '') expect(isKey(page.continueAt), page.continueAt).toBe(true);
            seen.push(...page.names);
            cursor = page.continueAt;
          } while (cursor !== '');
          expect(seen, `${prefix} ${limit}`).toEqual(all.filter((n) => isKey(n) && n.startsWith(prefix)));
        }
        const groups = { owns: (n: string) => n.startsWith('group.'), skipTo: pastDottedBlock('group.') };
        expect((await listKind(store, 'group.', '', 1000, groups)).names).toEqual(all.filter((n) => n.startsWith('group.')));
      });
    });
  });
}

/** Size of the shared listing fixture: more than two full pages plus a partial one. */
const LISTED = 2500;

/** 2500 names in three namespaces, sorted: `key-NNNN`, `cert.NNNN`, `group.NNNN`. */
function fixtureNames(): string[] {
  const names: string[] = [];
  for (let i = 0; i < LISTED; i++) {
    const n = String(i).padStart(4, '0');
    names.push(i % 5 === 0 ? `cert.${n}` : i % 7 === 0 ? `group.${n}` : `key-${n}`);
  }
  return names.sort();
}

/** Every page of a listing, following continueAt until it is ''. */
async function pagesOf(store: KeyStore, prefix: string, limit: number): Promise<ListPage[]> {
  const pages: ListPage[] = [];
  let continueAt = '';
  do {
    const page = await store.list(prefix, continueAt, limit);
    pages.push(page);
    if (pages.length > 10_000) throw new Error('contract: listing does not end');
    continueAt = page.continueAt;
  } while (continueAt !== '');
  return pages;
}

async function collect(store: KeyStore, prefix: string, limit: number): Promise<string[]> {
  return (await pagesOf(store, prefix, limit)).flatMap((p) => p.names);
}

function shuffle<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

type Op =
  | { op: 'create'; name: string }
  | { op: 'update'; name: string; stale: boolean }
  | { op: 'delete'; name: string }
  | { op: 'get'; name: string }
  | { op: 'list'; prefix: string; continueAt: string; limit: number };

/**
 * Runs random operation sequences against `store` and a Map, comparing every
 * answer. Each run works under its own name prefix, so one store serves all runs.
 */
export async function checkAgainstModel(store: KeyStore, runs: number, maxOps: number): Promise<void> {
  const stems = ['a', 'a-', 'a-b', 'a.b', 'a_', 'ab', 'b', 'B', '0', '_x'];
  const stem = fc.constantFrom(...stems);
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('create' as const), name: stem }),
    fc.record({ op: fc.constant('update' as const), name: stem, stale: fc.boolean() }),
    fc.record({ op: fc.constant('delete' as const), name: stem }),
    fc.record({ op: fc.constant('get' as const), name: stem }),
    fc.record({
      op: fc.constant('list' as const),
      prefix: fc.constantFrom('', 'a', 'a-', 'a.', 'b', 'c'),
      continueAt: fc.constantFrom('', ...stems, 'a-a', 'aa', 'zz'),
      limit: fc.integer({ min: 1, max: 4 }),
    }),
  );
  let run = 0;
  let writes = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: maxOps }), async (ops) => {
      const ns = `m${run++}x`;
      const model = new Map<string, { value: Buffer; version: string; stale: string | undefined }>();
      for (const o of ops) {
        if (o.op === 'list') {
          const prefix = ns + o.prefix;
          const continueAt = o.continueAt === '' ? '' : ns + o.continueAt;
          const names = [...model.keys()].filter((n) => n.startsWith(prefix) && n >= continueAt).sort();
          const expected = { names: names.slice(0, o.limit), continueAt: names[o.limit] ?? '' };
          expect(await store.list(prefix, continueAt, o.limit)).toEqual(expected);
          continue;
        }
        const name = ns + o.name;
        const held = model.get(name);
        const value = Buffer.from(`${name}#${writes++}`);
        switch (o.op) {
          case 'create':
            if (held) {
              await expect(store.create(name, value)).rejects.toBeInstanceOf(EntryExistsError);
            } else {
              await store.create(name, value);
              model.set(name, { value, version: (await store.get(name)).version, stale: undefined });
            }
            break;
          case 'get':
            if (held) {
              const entry = await store.get(name);
              expect(entry.value.equals(held.value)).toBe(true);
              expect(entry.version).toBe(held.version);
            } else {
              await expect(store.get(name)).rejects.toBeInstanceOf(EntryNotFoundError);
            }
            break;
          case 'update':
            if (!held) {
              await expect(store.update(name, value, 'v')).rejects.toBeInstanceOf(EntryNotFoundError);
            } else if (o.stale && held.stale !== undefined) {
              await expect(store.update(name, value, held.stale)).rejects.toBeInstanceOf(VersionMismatchError);
            } else {
              const version = await store.update(name, value, held.version);
              expect(version).not.toBe(held.version);
              model.set(name, { value, version, stale: held.version });
            }
            break;
          case 'delete':
            if (held) {
              await store.delete(name);
              model.delete(name);
            } else {
              await expect(store.delete(name)).rejects.toBeInstanceOf(EntryNotFoundError);
            }
            break;
        }
      }
    }),
    { numRuns: runs },
  );
}
