/**
 * The housekeeping sweeper over a real keystore written by keygate's services: expired
 * tokens, stale SAN index pairs (after a grace), node records, bans and enrollments of a
 * group whose purge never ran; bounded runs that resume; one replica at a time by lease.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../keystores/memory.js';
import { CachedKeyStore } from '../keystores/cache.js';
import { BundleService } from '../src/core/bundles/service.js';
import { SanIndex } from '../src/core/bundles/san-index.js';
import { createFleet } from '../src/core/fleet/fleet.js';
import { LEASE_ENTRY, Sweeper, type SweepResult } from '../src/core/sweeper.js';
import { BundleCerts } from './helpers/bundle-certs.js';
import { dump, manualClock } from './helpers/fleet.js';

const certs = new BundleCerts();
const www = certs.bundle({ dnsNames: ['www.example.com', 'shop.example.com'] });
const identity = (s: string) => createHash('sha256').update(s).digest('hex');

async function setup() {
  const store = new MemoryKeyStore();
  const clock = manualClock(Date.now());
  const fleet = createFleet(store, { exists: async (b) => bundles.exists(b) }, { now: clock.now });
  const bundles = new BundleService(store, fleet.access);
  return { store, clock, fleet, bundles };
}

/** Runs until a pass over the whole keystore is finished; the sum of what was removed. */
async function fullPass(sweeper: Sweeper): Promise<SweepResult> {
  const sum: SweepResult = { scanned: 0, expiredTokens: 0, sanPairs: 0, nodeRecords: 0, bans: 0, enrollments: 0, cursor: '' };
  for (;;) {
    const r = await sweeper.runOnce();
    if (r === null) throw new Error('lease held by someone else');
    for (const k of ['scanned', 'expiredTokens', 'sanPairs', 'nodeRecords', 'bans', 'enrollments'] as const) sum[k] += r[k];
    if (r.cursor === '') return sum;
  }
}

describe('sweeper', () => {
  it('removes expired token records and keeps live ones', async () => {
    const { store, clock, fleet } = await setup();
    const { groupToken } = await fleet.groups.create('edge', { tokenTtl: 60 }, 'test');
    const short = await fleet.nodes.register(groupToken, 'n1');
    clock.advance(30_000);
    const later = await fleet.nodes.register(groupToken, 'n2');
    clock.advance(31_000); // n1's token expired, n2's not, the group token never expires
    const sweeper = new Sweeper(() => store, { now: clock.now });
    expect(await fullPass(sweeper)).toMatchObject({ expiredTokens: 1, nodeRecords: 0 });
    expect(await fleet.nodes.authenticate(short.token)).toBeNull();
    expect(await fleet.nodes.authenticate(later.token)).not.toBeNull();
    const tokens = [...(await dump(store)).keys()].filter((n) => n.startsWith('token.'));
    expect(tokens).toHaveLength(2);
  });

  it('removes SAN index pairs of deleted or replaced bundles only after the grace, by conditional update', async () => {
    const { store, clock, bundles } = await setup();
    await bundles.import('www.example.com', { chainPem: www.chainPem, keyPem: www.keyPem, ttl: 60 }, 'test');
    // A crashed writer's pairs: a bundle that was never written, and an old generation of www.
    const index = new SanIndex(store);
    await index.add(['dns:www.example.com', 'dns:shop.example.com'], { name: 'ghost.example.com', id: 'crashed' });
    await index.add(['dns:www.example.com'], { name: 'www.example.com', id: 'old-generation' });
    const sweeper = new Sweeper(() => store, { now: clock.now, graceMs: 60_000 });
    expect((await fullPass(sweeper)).sanPairs).toBe(0); // first sighting
    clock.advance(59_000);
    expect((await fullPass(sweeper)).sanPairs).toBe(0);
    clock.advance(1_000);
    expect((await fullPass(sweeper)).sanPairs).toBe(3);
    expect(await index.refs('dns:www.example.com')).toEqual([{ name: 'www.example.com', id: expect.any(String) }]);
    expect(await index.refs('dns:shop.example.com')).toEqual([{ name: 'www.example.com', id: expect.any(String) }]);
    expect((await bundles.lookup('shop.example.com', () => true)).map((m) => m.name)).toEqual(['www.example.com']);
    // A pair that turned live again within the grace (its bundle was written) is forgotten, not removed.
    await index.add(['dns:www.example.com'], { name: 'late.example.com', id: 'pending' });
    await fullPass(sweeper);
    clock.advance(60_000);
    await bundles.import('late.example.com', { chainPem: www.chainPem, keyPem: www.keyPem, ttl: 60 }, 'test');
    expect((await fullPass(sweeper)).sanPairs).toBe(1); // the 'pending' id never became the bundle's: stale
    expect((await index.refs('dns:www.example.com')).map((r) => r.name).sort()).toEqual(['late.example.com', 'www.example.com']);
  });

  it('removes node records, bans and enrollments of a group deleted without its purge, and of an earlier incarnation', async () => {
    const { store, clock, fleet } = await setup();
    const { groupToken } = await fleet.groups.create('edge', {}, 'test');
    await fleet.nodes.register(groupToken, 'n1');
    await fleet.nodes.enroll(groupToken, identity('cert-1'), { nodeId: 'n2' });
    await fleet.nodes.ban('edge', 'bad-node', 'test');
    const other = await fleet.groups.create('cdn', {}, 'test');
    await fleet.nodes.register(other.groupToken, 'c1');
    await fleet.nodes.enroll(other.groupToken, identity('cert-1'), { nodeId: 'c2' }); // one identity, two groups
    // The group entry goes, but the purge that follows never runs (a crash).
    await store.delete('group.edge');
    await fleet.groups.create('edge', {}, 'test'); // and a new group of the same name
    const before = [...(await dump(store)).keys()];
    expect(before.filter((n) => n.startsWith('node.edge.'))).toHaveLength(2);

    const r = await fullPass(new Sweeper(() => store, { now: clock.now }));
    expect(r).toMatchObject({ nodeRecords: 2, bans: 1, enrollments: 1 });
    const after = await dump(store);
    expect([...after.keys()].filter((n) => n.startsWith('node.edge.') || n.startsWith('ban.edge.'))).toEqual([]);
    expect([...after.keys()].filter((n) => n.startsWith('node.cdn.'))).toHaveLength(2);
    const member = JSON.parse(after.get(`member.${identity('cert-1')}`) as string);
    expect(Object.keys(member.r.groups)).toEqual(['cdn']);
    // The cdn group's nodes still work.
    expect(await fleet.nodes.readableBundles(identity('cert-1'), '')).not.toBeNull();
  });

  it('decides on the backend, not on a stale cache: a node of a group re-created on another replica stays', async () => {
    const backend = new MemoryKeyStore();
    const cache = new CachedKeyStore(backend, { anyMs: 3600_000, unusedMs: 3600_000, offlineMs: 0, maxBytes: 1 << 20, sweepIntervalMs: 0 });
    const clock = manualClock(Date.now());
    const other = createFleet(backend, { exists: async () => true }, { now: clock.now }); // another replica, no cache
    await other.groups.create('edge', {}, 'test');
    await cache.get('group.edge'); // this replica cached the first incarnation
    await other.groups.delete('edge');
    const { groupToken } = await other.groups.create('edge', {}, 'test');
    await other.nodes.register(groupToken, 'n1');
    const nodes = async () => [...(await dump(backend)).keys()].filter((n) => n.startsWith('node.edge.'));
    expect(await nodes()).toHaveLength(1);

    expect((await fullPass(new Sweeper(() => cache, { now: clock.now, backend: () => backend }))).nodeRecords).toBe(0);
    expect(await nodes()).toHaveLength(1);
    // Reading through the cache alone would have taken the node for one of a deleted group.
    expect((await fullPass(new Sweeper(() => cache, { now: clock.now }))).nodeRecords).toBe(1);
    await cache.close();
  });

  it('does bounded work per run and resumes where the last run stopped', async () => {
    const { store, clock, fleet } = await setup();
    const { groupToken } = await fleet.groups.create('edge', { tokenTtl: 1 }, 'test');
    for (let i = 0; i < 40; i++) await fleet.nodes.register(groupToken, `n${i}`);
    clock.advance(2_000);
    const sweeper = new Sweeper(() => store, { now: clock.now, batch: 10 });
    const runs: SweepResult[] = [];
    for (;;) {
      const r = (await sweeper.runOnce()) as SweepResult;
      runs.push(r);
      expect(r.scanned).toBeLessThanOrEqual(10);
      if (r.cursor === '') break;
    }
    expect(runs.length).toBeGreaterThan(4);
    expect(runs.reduce((n, r) => n + r.expiredTokens, 0)).toBe(40);
    expect([...(await dump(store)).keys()].filter((n) => n.startsWith('token.'))).toHaveLength(1); // the group token
  });

  it('runs on one replica at a time: a live lease of another is respected, an expired one taken over', async () => {
    const { store, clock } = await setup();
    const a = new Sweeper(() => store, { now: clock.now, owner: 'replica-a', leaseMs: 60_000 });
    const b = new Sweeper(() => store, { now: clock.now, owner: 'replica-b', leaseMs: 60_000 });
    // While a's run is under way (held inside its listing), b does nothing.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const gated = Object.assign(Object.create(store) as MemoryKeyStore, {
      list: async (p: string, c: string, l: number) => {
        entered();
        await gate;
        return store.list(p, c, l);
      },
    });
    const slow = new Sweeper(() => gated, { now: clock.now, owner: 'replica-a', leaseMs: 60_000 });
    const running = slow.runOnce();
    await inside;
    expect(await b.runOnce()).toBeNull();
    open();
    expect(await running).not.toBeNull();
    // Released at the end of the run: the next one may be anyone's.
    expect(await b.runOnce()).not.toBeNull();
    expect(await a.runOnce()).not.toBeNull();
    // A replica that died holding the lease.
    await store.update(
      LEASE_ENTRY,
      Buffer.from(JSON.stringify({ owner: 'replica-c', expires_at: clock.now() + 60_000, cursor: '' })),
      (await store.get(LEASE_ENTRY)).version,
    );
    expect(await a.runOnce()).toBeNull();
    expect(await b.runOnce()).toBeNull();
    clock.advance(60_000);
    expect(await a.runOnce()).not.toBeNull();
  });
});
