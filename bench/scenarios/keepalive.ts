/**
 * (a) keep-alive reads of one 3–4 KB bundle by 1000 identities, one
 * connection each, at the maximum rate; (d) p50/p99 latency at half of each
 * server's own maximum, open loop at a fixed rate.
 */
import { join } from 'node:path';
import type { Scenario, Side } from '../context.js';
import { BUNDLE, BUNDLE_PATH, SIDES, bundleRead, fetchBytes, importBundle, keygate, load, startTrio } from './common.js';

export const keepAliveReads: Scenario = {
  id: 'a',
  title: 'keep-alive reads of a certificate bundle by 1000 client identities',
  async run(ctx, out) {
    const trio = await startTrio(ctx, 'a');
    out.note(
      `${ctx.pki.clients.length} identities, one keep-alive connection each, one request in flight per connection (closed loop); ` +
        `GET ${BUNDLE_PATH} answers ${trio.body.length} bytes, checked byte for byte on every response.`,
    );
    const rates: Partial<Record<Side, number>> = {};
    for (const side of SIDES) {
      const r = await load(ctx, `a keep-alive reads / ${side}`, trio.servers[side], bundleRead(trio.body), { kind: 'closed' });
      out.measure({ label: `a keep-alive reads / ${side}`, load: r });
      rates[side] = r.perSecond;
    }
    ctx.shared.maxRate = rates;
    out.figure({ key: 'a_keepalive_reads', title: 'keep-alive bundle reads', unit: 'req/s', keygate: rates.keygate ?? null, node: rates.node ?? null, nginx: rates.nginx ?? null, higherIsBetter: true });
    await ctx.stopAll();

    // Not a target: what `server.workers: 2` gives on this 2-core machine, where the generator needs a core too.
    // Workers cannot share a memory keystore: the fs keystore, whose reads the cache serves from memory once warm.
    const kg2 = await keygate(ctx, 'a-keygate-2-workers', { workers: 2, keystore: { fs: { path: join(ctx.settings.tmp, 'a-keygate-2-workers', 'store') } } });
    await importBundle(ctx, kg2, BUNDLE);
    const body2 = await fetchBytes(ctx, kg2, BUNDLE_PATH); // the fs keystore's version string differs from the memory one's
    const r2 = await load(ctx, 'a keep-alive reads / keygate, 2 workers', kg2, bundleRead(body2), { kind: 'closed' });
    out.measure({ label: 'a keep-alive reads / keygate, server.workers: 2', load: r2 });
    out.figure({ key: 'a_keepalive_reads_2_workers', title: 'keep-alive bundle reads, keygate with 2 workers (not a target)', unit: 'req/s', keygate: r2.perSecond, node: null, nginx: null, higherIsBetter: true });
    out.note('The 2-worker figure is informative only: server and generator then compete for the same 2 cores.');
  },
};

export const latencyAtHalfLoad: Scenario = {
  id: 'd',
  title: 'p50/p99 latency at 50 % of the maximum rate (open loop)',
  async run(ctx, out) {
    const trio = await startTrio(ctx, 'd');
    let max = ctx.shared.maxRate;
    if (!max) {
      max = {};
      for (const side of SIDES) max[side] = (await load(ctx, `d maximum / ${side}`, trio.servers[side], bundleRead(trio.body), { kind: 'closed' })).perSecond;
    }
    const p50: Partial<Record<Side, number | null>> = {};
    const p99: Partial<Record<Side, number | null>> = {};
    for (const side of SIDES) {
      const rate = Math.round((max[side] ?? 0) / 2);
      const label = `d ${rate}/s (half of max) / ${side}`;
      const r = await load(ctx, label, trio.servers[side], bundleRead(trio.body), { kind: 'rate', perSecond: rate });
      out.measure({ label, load: r, values: { 'target rate /s': rate } });
      p50[side] = r.p50Ms;
      p99[side] = r.p99Ms;
    }
    out.note(
      'Each server runs at half of its own maximum from (a). Requests are sent on a 1 ms timer over the 1000 keep-alive connections; ' +
        'latency is measured from sending to the last byte of the answer (from the scheduled time when no connection was free).',
    );
    out.figure({ key: 'd_latency_p50_at_half_load', title: 'p50 latency at 50 % of max rate', unit: 'ms', keygate: p50.keygate ?? null, node: p50.node ?? null, nginx: p50.nginx ?? null, higherIsBetter: false });
    out.figure({ key: 'd_latency_p99_at_half_load', title: 'p99 latency at 50 % of max rate', unit: 'ms', keygate: p99.keygate ?? null, node: p99.node ?? null, nginx: p99.nginx ?? null, higherIsBetter: false });
  },
};
