/** Groups: settings, the group token, rotation and deletion, and race-free assignments. */
import { describe, expect, it } from 'vitest';
import { GroupService, isValidGroupName } from './groups.js';
import { TokenService, InvalidTokenError } from './tokens.js';
import { CountingStore, catalogOf, dump, manualClock } from '../../../test/helpers/fleet.js';

function setup(...bundles: string[]) {
  const store = new CountingStore();
  const clock = manualClock();
  const tokens = new TokenService(store, { now: clock.now });
  const catalog = catalogOf(...bundles);
  return { store, clock, tokens, catalog, groups: new GroupService(store, tokens, catalog) };
}

describe('GroupService settings', () => {
  it('creates a group with defaults, shows the token once and never the client secret', async () => {
    const { groups, store } = setup();
    const { groupToken } = await groups.create('edge', { oauthClientSecret: 'hunter2-secret', oauthClientId: 'id' }, 'admin-id');
    expect(groupToken).toMatch(/^kgg_/);
    const d = await groups.describe('edge');
    expect(d).toMatchObject({
      name: 'edge',
      createdBy: 'admin-id',
      tokenTtl: 600,
      callbackUrl: '',
      oauthUrl: '',
      oauthClientId: 'id',
      oauthClientSecretSet: true,
      oauthMode: 'form',
      callbackCa: '',
      callbackInsecure: false,
      callbackTimeout: 5,
      bundles: [],
    });
    expect(JSON.stringify(d)).not.toContain('hunter2-secret');
    expect(JSON.stringify(d)).not.toContain(groupToken);
    for (const [, value] of await dump(store)) expect(value).not.toContain(groupToken);
  });

  it('refuses a second group of the same name with 409, and invalid names', async () => {
    const { groups } = setup();
    await groups.create('edge', {}, 'a');
    await expect(groups.create('edge', {}, 'a')).rejects.toMatchObject({ status: 409, message: 'group already exists' });
    for (const bad of ['', 'a.b', 'a/b', 'x'.repeat(81), 'é']) {
      expect(isValidGroupName(bad)).toBe(false);
      await expect(groups.create(bad, {}, 'a')).rejects.toMatchObject({ status: 400 });
    }
    expect(isValidGroupName('-rks-style-group-')).toBe(true);
  });

  it('validates every setting and stores nothing on failure', async () => {
    const { groups, store } = setup();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ tokenTtl: 0 }, /^token_ttl must be/],
      [{ tokenTtl: 1.5 }, /^token_ttl/],
      [{ tokenTtl: 31 * 86400 + 1 }, /^token_ttl/],
      [{ callbackUrl: 'http://manager/cb' }, /^callback_url must be an https:\/\/ URL/],
      [{ callbackUrl: 'https://user:pw@manager/cb' }, /^callback_url/],
      [{ callbackUrl: 'https://manager/cb?x=1' }, /^callback_url/],
      [{ callbackUrl: 'not a url' }, /^callback_url/],
      [{ oauthUrl: 'https://manager/t#f' }, /^oauth_url/],
      [{ oauthMode: 'basic' }, /^oauth_mode must be "rks" or "form"$/],
      [{ callbackCa: 'garbage' }, /^callback_ca must hold one or more PEM certificates$/],
      [{ callbackCa: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, /^callback_ca/],
      [{ callbackTimeout: 0 }, /^callback_timeout/],
      [{ callbackTimeout: 11 }, /^callback_timeout/],
      [{ oauthClientId: 'a\nb' }, /^oauth_client_id/],
    ];
    for (const [settings, message] of cases) {
      await expect(groups.create('g', settings, 'a'), JSON.stringify(settings)).rejects.toThrow(message);
    }
    expect((await dump(store)).size).toBe(0);
    await groups.create('g', { oauthUrl: 'https://manager/token?tenant=1', callbackUrl: 'https://manager/nodes/' }, 'a');
  });

  it('updates only the given settings; the secret stays unless given', async () => {
    const { groups } = setup();
    await groups.create('edge', { oauthClientSecret: 's1', tokenTtl: 60 }, 'a');
    const d = await groups.update('edge', { callbackTimeout: 0.5 });
    expect(d).toMatchObject({ tokenTtl: 60, callbackTimeout: 0.5, oauthClientSecretSet: true });
    await expect(groups.update('edge', { tokenTtl: -1 })).rejects.toMatchObject({ status: 400 });
    expect((await groups.describe('edge')).tokenTtl).toBe(60);
    expect((await groups.record('edge')).settings.oauthClientSecret).toBe('s1');
    expect((await groups.update('edge', { oauthClientSecret: '' })).oauthClientSecretSet).toBe(false);
    await expect(groups.update('nope', {})).rejects.toMatchObject({ status: 404, message: 'group does not exist' });
  });

  it('lists names by prefix, page by page', async () => {
    const { groups } = setup();
    for (const n of ['a1', 'a2', 'a3', 'b1']) await groups.create(n, {}, 'x');
    expect((await groups.list('', '')).names).toEqual(['a1', 'a2', 'a3', 'b1']);
    const first = await groups.list('a', '', 2);
    expect(first).toEqual({ names: ['a1', 'a2'], continueAt: 'a3' });
    expect(await groups.list('a', first.continueAt, 2)).toEqual({ names: ['a3'], continueAt: '' });
  });
});

describe('GroupService tokens', () => {
  it('authenticates a group token for its own group only', async () => {
    const { groups } = setup();
    const a = await groups.create('a', {}, 'x');
    const b = await groups.create('b', {}, 'x');
    expect((await groups.authenticate(a.groupToken)).name).toBe('a');
    expect((await groups.authenticate(a.groupToken, 'a')).name).toBe('a');
    await expect(groups.authenticate(a.groupToken, 'b')).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(groups.authenticate(b.groupToken, 'a')).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(groups.authenticate('kgg_nope')).rejects.toThrow('not authorized: invalid, expired or revoked token');
  });

  it('rotation replaces the token and the generation; the old token dies', async () => {
    const { groups, tokens } = setup();
    const first = await groups.create('a', {}, 'x');
    const before = await groups.record('a');
    const second = await groups.rotate('a');
    const after = await groups.record('a');
    expect(after.generation).not.toBe(before.generation);
    expect(after.incarnation).toBe(before.incarnation);
    await expect(groups.authenticate(first.groupToken)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(await tokens.lookup(first.groupToken)).toBeNull(); // its record is gone too
    expect((await groups.authenticate(second.groupToken)).name).toBe('a');
    await expect(groups.rotate('nope')).rejects.toMatchObject({ status: 404 });
  });

  it('deletion kills the token; a re-created group of the same name shares nothing', async () => {
    const { groups, store } = setup('www');
    const old = await groups.create('a', {}, 'x');
    await groups.assign('a', 'www');
    const incarnation = (await groups.record('a')).incarnation;
    const deleted: string[] = [];
    groups.onDelete(async (r) => void deleted.push(r.name));
    await groups.delete('a');
    expect(deleted).toEqual(['a']);
    await expect(groups.describe('a')).rejects.toMatchObject({ status: 404, message: 'group does not exist' });
    await expect(groups.delete('a')).rejects.toMatchObject({ status: 404 });
    expect([...(await dump(store)).keys()]).toEqual([]);
    await groups.create('a', {}, 'x');
    await expect(groups.authenticate(old.groupToken)).rejects.toBeInstanceOf(InvalidTokenError);
    expect((await groups.record('a')).incarnation).not.toBe(incarnation);
    expect(await groups.bundlesOf('a')).toEqual([]);
  });
});

describe('GroupService assignments', () => {
  it('assigns existing bundles only, reports no-ops, and answers groupsOf', async () => {
    const { groups } = setup('www.example.com', '*.example.com');
    await groups.create('a', {}, 'x');
    await groups.create('b', {}, 'x');
    await expect(groups.assign('a', 'missing.example.com')).rejects.toMatchObject({ status: 404, message: 'bundle does not exist' });
    await expect(groups.assign('nope', 'www.example.com')).rejects.toMatchObject({ status: 404, message: 'group does not exist' });
    await expect(groups.assign('a', 'a/b')).rejects.toMatchObject({ status: 400 });
    expect(await groups.assign('a', 'www.example.com')).toBe(true);
    expect(await groups.assign('a', 'www.example.com')).toBe(false);
    expect(await groups.assign('a', '*.example.com')).toBe(true);
    expect(await groups.assign('b', 'www.example.com')).toBe(true);
    expect(await groups.bundlesOf('a')).toEqual(['*.example.com', 'www.example.com']);
    expect(await groups.groupsOf('www.example.com')).toEqual(['a', 'b']);
    expect(await groups.groupsOf('*.example.com')).toEqual(['a']);
    expect(await groups.groupsOf('other')).toEqual([]);
    expect(await groups.unassign('a', 'www.example.com')).toBe(true);
    expect(await groups.unassign('a', 'www.example.com')).toBe(false);
    expect(await groups.unassignEverywhere('www.example.com')).toEqual(['b']);
    expect(await groups.groupsOf('www.example.com')).toEqual([]);
  });

  it('lands every one of 20 concurrent assigns, then every concurrent unassign', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `b${String(i).padStart(2, '0')}.example.com`);
    const { groups, store, catalog } = setup(...names);
    await groups.create('a', {}, 'x');
    const results = await Promise.all(names.map((n) => groups.assign('a', n)));
    expect(results.every(Boolean)).toBe(true);
    expect(await groups.bundlesOf('a')).toEqual(names);
    expect(store.counts.update).toBeGreaterThanOrEqual(20);
    // Half go, half come back, all at once.
    const extra = names.map((n) => n.replace('.example', '.other'));
    extra.forEach((n) => catalog.names.add(n));
    await Promise.all([...names.slice(0, 10).map((n) => groups.unassign('a', n)), ...extra.map((n) => groups.assign('a', n))]);
    expect(await groups.bundlesOf('a')).toEqual([...names.slice(10), ...extra].sort());
  });
});
