/**
 * A populated keystore for the migration tests: master keys, bundles (with their SAN index),
 * groups with assignments, registered and enrolled nodes, a ban, live and expired tokens —
 * all written through keygate's own services, so every entry kind is there as keygate writes it.
 */
import { createHash } from 'node:crypto';
import type { KeyStore } from '../../keystores/keystore.js';
import { BundleService } from '../../src/core/bundles/service.js';
import { createFleet } from '../../src/core/fleet/fleet.js';
import { KeyService } from '../../src/core/keys/service.js';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import { manualClock, type Clock } from '../helpers/fleet.js';

export interface Population {
  keys: string[];
  bundles: string[];
  groups: Array<{ name: string; token: string }>;
  /** Node tokens issued (live at the population's clock). */
  nodeTokens: string[];
  clock: Clock;
}

export interface PopulateOptions {
  keys: number;
  bundles: number;
  groups: number;
  nodesPerGroup: number;
  /** Distinct leaf certificates the bundles share (making one per bundle is slow). */
  leaves?: number;
}

/** Runs `work` over 0..n-1 with at most `limit` at once. */
export async function times(n: number, work: (i: number) => Promise<void>, limit = 16): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

export async function populate(store: KeyStore, o: PopulateOptions): Promise<Population> {
  const clock = manualClock(Date.now());
  const certs = new BundleCerts();
  const leaves: TestBundle[] = [];
  const leafCount = o.leaves ?? 20;
  for (let i = 0; i < leafCount; i++) leaves.push(certs.bundle({ dnsNames: [`host-${i}.example.com`, `*.pool-${i}.example.com`], keyType: 'ecdsa-p256' }));
  const fleet = createFleet(store, { exists: async (b) => bundles.exists(b) }, { now: clock.now });
  const bundles = new BundleService(store, fleet.access);
  const keys = new KeyService(store);
  const out: Population = { keys: [], bundles: [], groups: [], nodeTokens: [], clock };

  await times(o.keys, async (i) => {
    const name = `key-${String(i).padStart(5, '0')}`;
    await keys.create(name, 'populate');
    out.keys.push(name);
  });
  await times(o.bundles, async (i) => {
    const name = `b${String(i).padStart(5, '0')}.pool-${i % leafCount}.example.com`;
    const leaf = leaves[i % leafCount] as TestBundle;
    await bundles.import(name, { chainPem: leaf.chainPem, keyPem: leaf.keyPem, ttl: 60 + i, labels: { n: String(i) } }, 'populate');
    out.bundles.push(name);
  });
  for (let g = 0; g < o.groups; g++) {
    const name = `group-${g}`;
    const { groupToken } = await fleet.groups.create(name, { tokenTtl: 600 }, 'populate');
    out.groups.push({ name, token: groupToken });
    for (let b = g; b < Math.min(out.bundles.length, g + 5); b++) await fleet.groups.assign(name, out.bundles.sort()[b] as string);
    await times(o.nodesPerGroup, async (n) => {
      const { token } = await fleet.nodes.register(groupToken, `node-${g}-${n}`);
      out.nodeTokens.push(token);
    });
    // An enrolled certificate and a banned node id.
    const identity = createHash('sha256').update(`identity-${g}`).digest('hex');
    await fleet.nodes.enroll(groupToken, identity, { nodeId: `enrolled-${g}` });
    await fleet.nodes.ban(name, `banned-${g}`, 'populate');
  }
  return out;
}
