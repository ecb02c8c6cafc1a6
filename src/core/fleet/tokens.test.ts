/** Tokens: shape, hash-only storage, expiry on an injected clock, renewal, revocation. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { InvalidTokenError, TokenService, hashToken, looksLikeToken } from './tokens.js';
import { CountingStore, dump, manualClock } from '../../../test/helpers/fleet.js';

function setup() {
  const store = new CountingStore();
  const clock = manualClock();
  return { store, clock, tokens: new TokenService(store, { now: clock.now }) };
}

const nodeToken = { kind: 'node' as const, group: 'edge', node: 'n1', generation: 'g1', ttl: 600, renewable: true };

describe('TokenService', () => {
  it('issues prefixed 32-byte base64url tokens and stores only their SHA-256', async () => {
    const { store, tokens } = setup();
    const g = await tokens.issue({ kind: 'group', group: 'edge', generation: 'g1', ttl: null, renewable: false });
    const n = await tokens.issue(nodeToken);
    expect(g.token).toMatch(/^kgg_[A-Za-z0-9_-]{43}$/);
    expect(n.token).toMatch(/^kgn_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(n.token.slice(4), 'base64url')).toHaveLength(32);
    expect(n.record.hash).toBe(createHash('sha256').update(n.token).digest('hex'));

    const entries = await dump(store);
    expect([...entries.keys()].sort()).toEqual([`token.${g.record.hash}`, `token.${n.record.hash}`].sort());
    for (const [, value] of entries) {
      for (const t of [g.token, n.token]) {
        expect(value).not.toContain(t);
        expect(value).not.toContain(t.slice(4));
      }
    }
    expect(JSON.parse(entries.get(`token.${n.record.hash}`) as string)).toMatchObject({
      kind: 'node',
      group: 'edge',
      node: 'n1',
      generation: 'g1',
      ttl: 600,
      renewable: true,
    });
  });

  it('looks tokens up by hash, and refuses malformed ones without reading the keystore', async () => {
    const { store, tokens } = setup();
    const { token, record } = await tokens.issue(nodeToken);
    expect(await tokens.lookup(token)).toEqual(record);
    const reads = store.counts.get;
    for (const bad of ['', 'kgn_', token + 'x', token.slice(0, -1), 'kgx_' + token.slice(4), ' ' + token, 's.vaulttoken']) {
      expect(await tokens.lookup(bad)).toBeNull();
    }
    expect(store.counts.get).toBe(reads);
    expect(await tokens.lookup('kgn_' + 'A'.repeat(43))).toBeNull(); // well-formed, unknown
    expect(looksLikeToken(token)).toBe(true);
  });

  it("refuses a record whose stored hash is not the token's", async () => {
    const { store, tokens } = setup();
    const a = await tokens.issue(nodeToken);
    const b = await tokens.issue(nodeToken);
    // Put b's record under a's name: the constant-time hash comparison catches it.
    const value = (await store.get(`token.${b.record.hash}`)).value;
    const { version } = await store.get(`token.${a.record.hash}`);
    await store.update(`token.${a.record.hash}`, value, version);
    expect(await tokens.lookup(a.token)).toBeNull();
    expect(await tokens.lookup(b.token)).not.toBeNull();
  });

  it('expires tokens at their TTL on the injected clock and deletes the expired record', async () => {
    const { store, clock, tokens } = setup();
    const { token, record } = await tokens.issue(nodeToken);
    expect(record.expiresAt).toBe(clock.now() + 600_000);
    clock.advance(599_999);
    expect(await tokens.lookup(token)).not.toBeNull();
    clock.advance(1);
    expect(await tokens.lookup(token)).toBeNull();
    await expect(store.get(`token.${record.hash}`)).rejects.toThrow(/does not exist/);
    await expect(tokens.renew(token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('renewal restores the full TTL, every time', async () => {
    const { clock, tokens } = setup();
    const { token } = await tokens.issue(nodeToken);
    for (let i = 0; i < 3; i++) {
      clock.advance(500_000);
      const renewed = await tokens.renew(token);
      expect(renewed.expiresAt).toBe(clock.now() + 600_000);
    }
    clock.advance(599_000);
    expect(await tokens.lookup(token)).not.toBeNull();
  });

  it('concurrent renewals of one token all succeed', async () => {
    const { tokens } = setup();
    const { token } = await tokens.issue(nodeToken);
    const results = await Promise.all(Array.from({ length: 10 }, () => tokens.renew(token)));
    expect(results).toHaveLength(10);
  });

  it('never renews a token without expiry or a non-renewable one', async () => {
    const { tokens } = setup();
    const g = await tokens.issue({ kind: 'group', group: 'edge', generation: 'g1', ttl: null, renewable: false });
    await expect(tokens.renew(g.token)).rejects.toThrow('not authorized: invalid, expired or revoked token');
    const fixed = await tokens.issue({ ...nodeToken, renewable: false });
    await expect(tokens.renew(fixed.token)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(await tokens.lookup(g.token)).not.toBeNull(); // group tokens do not expire
  });

  it('revokes by token or hash; renewal after revocation fails', async () => {
    const { tokens } = setup();
    const a = await tokens.issue(nodeToken);
    const b = await tokens.issue(nodeToken);
    expect(await tokens.revoke(a.token)).toBe(true);
    expect(await tokens.revoke(a.token)).toBe(false);
    expect(await tokens.revoke('garbage')).toBe(false);
    expect(await tokens.lookup(a.token)).toBeNull();
    await expect(tokens.renew(a.token)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(await tokens.revokeHash(hashToken(b.token))).toBe(true);
    expect(await tokens.lookup(b.token)).toBeNull();
    expect(await tokens.peek(b.record.hash)).toBeNull();
  });

  it('translates keystore failures into a 502 without the token', async () => {
    const { store, tokens } = setup();
    const { token, record } = await tokens.issue(nodeToken);
    const { version } = await store.get(`token.${record.hash}`);
    await store.update(`token.${record.hash}`, Buffer.from('not json'), version);
    const err = await tokens.lookup(token).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, message: 'failed to access token' });
    expect(String((err as Error).message)).not.toContain(token);
  });
});
