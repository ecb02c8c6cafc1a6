/** The fleet census behind the metrics gauges: what counts as a live token, a registered node, an expiring bundle. */
import { describe, expect, it, vi } from 'vitest';
import { createFleet } from './fleet/fleet.js';
import { BundleService } from './bundles/service.js';
import { Census, countFleet } from './census.js';
import { CountingStore, manualClock } from '../../test/helpers/fleet.js';
import { BundleCerts } from '../../test/helpers/bundle-certs.js';

const certs = new BundleCerts();

function setup() {
  const store = new CountingStore();
  // Token expiry uses the manual clock; bundle expiry is checked against real time (the certificates are real).
  const clock = manualClock(Date.now());
  const fleet = createFleet(store, { exists: async () => true }, { now: clock.now });
  const bundles = new BundleService(store, fleet.access);
  return { store, clock, bundles, ...fleet };
}

describe('countFleet', () => {
  it('counts live tokens by kind, registered nodes, and bundles expiring within 30 days', async () => {
    const f = setup();
    const edge = (await f.groups.create('edge', { tokenTtl: 600 }, 'admin')).groupToken;
    const core = (await f.groups.create('core', { tokenTtl: 600 }, 'admin')).groupToken;
    await f.nodes.register(edge, 'n1');
    await f.nodes.register(edge, 'n2');
    await f.nodes.register(core, 'c1');
    await f.nodes.enroll(edge, 'a'.repeat(64), { nodeId: 'e1' });
    const ttl = 3600;
    for (const [name, days] of [
      ['soon', 10],
      ['later', 60],
      ['gone', -2],
      ['edge-of-horizon', 29],
    ] as const) {
      const b = certs.expiringIn(days);
      await f.bundles.import(name, { chainPem: b.chainPem, keyPem: b.keyPem, ttl, allowExpired: days < 0 }, 'admin');
    }

    expect(await countFleet(f)).toEqual({ tokens: { group: 2, node: 3, admin: 0 }, nodes: 4, bundlesExpiring: 3 });

    // Revoking a node drops it and its token; rotating a group kills its node tokens (not its nodes' records).
    await f.nodes.revoke('edge', 'n2');
    expect(await countFleet(f)).toEqual({ tokens: { group: 2, node: 2, admin: 0 }, nodes: 3, bundlesExpiring: 3 });
    await f.groups.rotate('core');
    expect((await countFleet(f)).tokens).toEqual({ group: 2, node: 1, admin: 0 });

    // Expired tokens stop counting even though their records are still stored.
    f.clock.advance(601_000);
    expect((await countFleet(f)).tokens).toEqual({ group: 2, node: 0, admin: 0 });

    // A deleted group takes its nodes and tokens with it.
    await f.groups.delete('edge');
    expect(await countFleet(f)).toMatchObject({ tokens: { group: 1, node: 0, admin: 0 }, nodes: 1 });
  });
});

describe('Census', () => {
  it('answers from its last count within maxAge, refreshes once after it, and keeps the old count on failure', async () => {
    const f = setup();
    let t = 0;
    const errors: unknown[] = [];
    let fail = false;
    const census = new Census(
      () => ({ ...f, groups: fail ? ({ ...f.groups, all: () => Promise.reject(new Error('keystore down')) } as unknown as typeof f.groups) : f.groups }),
      { maxAgeMs: 1000, firstWaitMs: 5000, now: () => t, onError: (e) => errors.push(e) },
    );
    expect(await census.get()).toEqual({ tokens: { group: 0, node: 0, admin: 0 }, nodes: 0, bundlesExpiring: 0 });
    await f.groups.create('edge', {}, 'admin');
    const lists = f.store.counts.list;
    expect((await census.get())?.tokens.group).toBe(0);
    expect(f.store.counts.list).toBe(lists); // served from the last count: no keystore walk

    t = 1000;
    // Stale: this scrape still gets the old count, and starts one refresh (not two).
    const [a, b] = await Promise.all([census.get(), census.get()]);
    expect(a?.tokens.group).toBe(0);
    expect(b?.tokens.group).toBe(0);
    // The refresh runs in the background: wait for its result, not for a fixed time.
    await vi.waitFor(async () => expect((await census.get())?.tokens.group).toBe(1), { timeout: 20_000, interval: 10 });

    fail = true;
    t = 3000;
    await census.get();
    await vi.waitFor(() => expect(errors.map((e) => (e as Error).message)).toEqual(['keystore down']), { timeout: 20_000, interval: 10 });
    expect((await census.get())?.tokens.group).toBe(1);
  });
});
