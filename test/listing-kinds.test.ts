/**
 * Issue 11 item 7: listings page over their own entries only. Keys have no entry prefix, so
 * with more than a store page of groups and tokens between them, the key listing must still
 * reach every key, once, and hand out only key names as cursors (the API refuses anything
 * else); groups and bundles likewise, whatever else lies under their prefixes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_LIST_PAGE, type KeyStore } from '../keystores/keystore.js';
import { KeyService } from '../src/core/keys/service.js';
import { GroupService, isValidGroupName } from '../src/core/fleet/groups.js';
import { TokenService } from '../src/core/fleet/tokens.js';
import { listBundles } from '../src/core/bundles/list.js';
import { isValidName } from '../src/core/names.js';
import { isValidBundleName } from '../src/core/bundles/names.js';
import { CountingStore, catalogOf } from './helpers/fleet.js';

/** What the CLI does: follow continue_at until it is empty; every cursor must pass the API's own check. */
async function pageAll(list: (cursor: string) => Promise<{ names: string[]; continueAt: string }>, validCursor: (c: string) => boolean) {
  const names: string[] = [];
  let cursor = '';
  let pages = 0;
  do {
    const page = await list(cursor);
    if (page.continueAt !== '') expect(validCursor(page.continueAt), page.continueAt).toBe(true);
    names.push(...page.names);
    cursor = page.continueAt;
    if (++pages > 10_000) throw new Error('listing does not end');
  } while (cursor !== '');
  return names;
}

const sorted = (a: string[]) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

describe('listings over a keystore shared by every kind', () => {
  let store: KeyStore;
  let keys: KeyService;
  let groups: GroupService;
  const keyNames = [
    '0-first',
    'a',
    'bundle',
    'bundle-z',
    'bundle0',
    'group',
    'group-a',
    'group0',
    'groupZ',
    'groupa',
    'node',
    'san0',
    'token',
    'token-x',
    'token0',
    'tokenz',
    'zz-last',
  ];
  const groupNames = Array.from({ length: 1100 }, (_, i) => `g${String(i).padStart(4, '0')}`);
  const bundleNames = [
    ...Array.from({ length: 1100 }, (_, i) => `w${String(i).padStart(4, '0')}.example.com`),
    ...Array.from({ length: 1100 }, (_, i) => `*.s${String(i).padStart(4, '0')}.example.com`),
    '_acme.example.com',
    '_x',
    'a',
    'zz.example.com',
  ];

  beforeAll(async () => {
    store = new CountingStore();
    const tokens = new TokenService(store);
    keys = new KeyService(store);
    groups = new GroupService(store, tokens, catalogOf());
    for (const k of keyNames) await keys.create(k, 'test');
    // Every group brings its group token's entry: 2200 non-key entries around the keys.
    for (const g of groupNames) await groups.create(g, {}, 'test');
    for (const b of bundleNames) await store.create('bundle.' + (b.startsWith('*') ? '_' + b.slice(1) : b), Buffer.from('{}'));
    // Entries under `group.` that are not groups (not written by keygate, or by a later version).
    await store.create('group.g0500.extra', Buffer.from('x'));
    await store.create('group.zz.x', Buffer.from('x'));
    await store.create('group.' + 'x'.repeat(81), Buffer.from('x'));
    const all = await store.list('', '', MAX_LIST_PAGE);
    expect(all.continueAt).not.toBe('');
  }, 60_000);

  it.each([1000, 7, 1])('the key listing (page size %i) reaches every key once and hands out only key names', async (limit) => {
    const listed = await pageAll((c) => keys.list('', c, limit), isValidName);
    expect(listed).toEqual(sorted(keyNames));
  });

  it('a key prefix that other kinds share lists only its keys', async () => {
    for (const prefix of ['group', 'token', 'bundle', 'g', 'zz']) {
      const listed = await pageAll((c) => keys.list(prefix, c, 2), isValidName);
      expect(listed, prefix).toEqual(sorted(keyNames.filter((k) => k.startsWith(prefix))));
    }
  });

  it.each([1000, 333])('the group listing (page size %i) reaches every group once; foreign entries under group. are not groups', async (limit) => {
    const listed = await pageAll((c) => groups.list('', c, limit), isValidGroupName);
    expect(listed).toEqual(groupNames);
    expect(await pageAll((c) => groups.list('g05', c, 10), isValidGroupName)).toEqual(groupNames.filter((g) => g.startsWith('g05')));
  });

  it.each([
    ['', 1000],
    ['', 7],
    ['_', 1],
    ['*', 500],
    ['w', 1000],
  ] as const)('the bundle listing (prefix %j, page size %i) reaches every bundle once with bundle-name cursors', async (prefix, limit) => {
    const listed = await pageAll((c) => listBundles(store, async () => new Date(), new Date(), { prefix, continueAt: c, limit }), isValidBundleName);
    const entry = (b: string) => (b.startsWith('*') ? '_' + b.slice(1) : b);
    const expected = [...bundleNames].filter((b) => b.startsWith(prefix)).sort((x, y) => (entry(x) < entry(y) ? -1 : entry(x) > entry(y) ? 1 : 0));
    expect(listed).toEqual(expected);
  });
});
