/**
 * Issue 11 item 7 end to end: with more than a keystore page of groups and their tokens
 * between the keys, following `continue_at` (as `keygate key ls` does) reaches every key
 * exactly once and the server accepts every cursor it hands out; the same for groups and
 * bundles. Seeded through the in-process state: the keystore semantics this relies on are
 * held for every adapter by the keystore contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';

let s: TestServer;
const keyNames = ['0-first', 'a', 'bundle', 'bundle0', 'group', 'group-a', 'group0', 'groupz', 'token', 'token0', 'zz-last'];
const groupNames = Array.from({ length: 1100 }, (_, i) => `g${String(i).padStart(4, '0')}`);

async function follow(path: string, field: 'names'): Promise<string[]> {
  const out: string[] = [];
  let cursor = '';
  for (let pages = 0; pages < 100; pages++) {
    const r = await s.call(s.admin, cursor === '' ? path : `${path}?continue_at=${encodeURIComponent(cursor)}`);
    expect(r.status, `${path} at ${cursor}: ${r.text}`).toBe(200);
    out.push(...(r.json[field] as string[]));
    cursor = (r.json.continue_at as string | undefined) ?? '';
    if (cursor === '') return out;
  }
  throw new Error('listing does not end');
}

describe.skipIf(workerMode)('listings page over their own kind', () => {
  beforeAll(async () => {
    s = await startTestServer();
    const state = s.running.holder.current;
    for (const k of keyNames) await state.keys.create(k, 'test');
    for (const g of groupNames) await state.groups.create(g, {}, 'test');
    for (let i = 0; i < 1100; i++) await state.store.create(`bundle.w${String(i).padStart(4, '0')}.example.com`, Buffer.from('{}'));
  }, 60_000);
  afterAll(() => s?.close());

  it('GET /v1/key/list/ reaches every key once, past 2200 group and token entries', async () => {
    expect(await follow('/v1/key/list/*', 'names')).toEqual([...keyNames].sort());
    expect(await follow('/v1/key/list/group*', 'names')).toEqual(keyNames.filter((k) => k.startsWith('group')).sort());
  });

  it('GET /v1/group/list/ and /v1/cert/list/ reach every group and bundle once', async () => {
    expect(await follow('/v1/group/list/*', 'names')).toEqual(groupNames);
    expect(await follow('/v1/cert/list/*', 'names')).toHaveLength(1100);
  });
});
