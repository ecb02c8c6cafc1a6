/**
 * (a) keep-alive reads of one 3–4 KB bundle by 1000 identities, one
 * connection each, at the maximum rate, every server measured once per round
 * (common.ts `loadInRounds`); (d) p50/p99 latency at half of each
 * server's own maximum, open loop at a fixed rate.
 */
import { join } from 'node:path';
import type { Scenario, Side } from '../context.js';
import { spread } from '../report.js';
import {
  BUNDLE,
  BUNDLE_PATH,
  SIDES,
  bundleRead,
  fetchBytes,
  importBundle,
  keygate,
  load,
  loadInRounds,
  median,
  reportDiagnostics,
  roundOrder,
  roundRatios,
  type Round,
  roundsNote,
  startTrio,
  summarizeRounds,
} from './common.js';

export const keepAliveReads: Scenario = {
  id: 'a',
  title: 'keep-alive reads of a certificate bundle by 1000 client identities',
  async run(ctx, out) {
    const trio = await startTrio(ctx, 'a');
    out.note(
      `${ctx.pki.clients.length} identities, one keep-alive connection each, one request in flight per connection (closed loop); ` +
        `GET ${BUNDLE_PATH} answers ${trio.body.length} bytes, checked byte for byte on every response.`,
    );
    const rounds = await loadInRounds(
      ctx,
      out,
      'a keep-alive reads',
      SIDES.map((side) => [side, trio.servers[side]]),
      bundleRead(trio.body),
      { kind: 'closed' },
    );
    const sum = summarizeRounds(rounds, SIDES);
    const rates: Partial<Record<Side, number>> = {};
    for (const side of SIDES) if (sum.rate[side] !== null && sum.rate[side] !== undefined) rates[side] = sum.rate[side];
    ctx.shared.maxRate = rates;
    out.figure({
      key: 'a_keepalive_reads',
      title: 'keep-alive bundle reads (median over rounds)',
      unit: 'req/s',
      keygate: rates.keygate ?? null,
      node: rates.node ?? null,
      nginx: rates.nginx ?? null,
      higherIsBetter: true,
      ratios: sum.ratios,
    });
    out.figure({
      key: 'a_keepalive_cpu_per_request',
      title: 'keep-alive bundle reads, server CPU per request (median over rounds)',
      unit: 'ms CPU',
      keygate: sum.cpuPerRequestMs.keygate ?? null,
      node: sum.cpuPerRequestMs.node ?? null,
      nginx: sum.cpuPerRequestMs.nginx ?? null,
      higherIsBetter: false,
    });
    out.note(roundsNote(ctx, 'Rates and ratios', rounds, SIDES, sum));
    for (const [p, name] of [
      ['p50Ms', 'p50'],
      ['p99Ms', 'p99'],
      ['p999Ms', 'p99.9'],
    ] as const) {
      const at = (side: Side): number | null => sum[p][side] ?? null;
      out.figure({
        key: `a_keepalive_${name.replace('.', '')}`,
        title: `keep-alive bundle reads, ${name} at the maximum rate`,
        unit: 'ms',
        keygate: at('keygate'),
        node: at('node'),
        nginx: at('nginx'),
        higherIsBetter: false,
      });
    }
    await ctx.stopAll();

    // Not a target: what `server.workers: 2` gives on this 2-core machine, where the generator needs a core too.
    // Workers cannot share a memory keystore: the fs keystore, whose reads the cache serves from memory once warm.
    const kg2 = await keygate(ctx, 'a-keygate-2-workers', { workers: 2, keystore: { fs: { path: join(ctx.settings.tmp, 'a-keygate-2-workers', 'store') } } });
    await importBundle(ctx, kg2, BUNDLE);
    const body2 = await fetchBytes(ctx, kg2, BUNDLE_PATH); // the fs keystore's version string differs from the memory one's
    const r2 = await load(ctx, 'a keep-alive reads / keygate, 2 workers', kg2, bundleRead(body2), { kind: 'closed' });
    out.measure({ label: 'a keep-alive reads / keygate, server.workers: 2', load: r2 });
    out.figure({
      key: 'a_keepalive_reads_2_workers',
      title: 'keep-alive bundle reads, keygate with 2 workers (not a target)',
      unit: 'req/s',
      keygate: r2.perSecond,
      node: null,
      nginx: null,
      higherIsBetter: true,
    });
    out.note('The 2-worker figure is informative only: server and generator then compete for the same 2 cores.');
  },
};

export const latencyAtHalfLoad: Scenario = {
  id: 'd',
  title: 'p50/p99 latency at 50 % of the maximum rate (open loop)',
  async run(ctx, out) {
    const diagFiles = ctx.settings.diagnose
      ? { keygate: join(ctx.settings.tmp, 'd-diag-keygate.json'), node: join(ctx.settings.tmp, 'd-diag-node.json') }
      : undefined;
    const trio = await startTrio(ctx, 'd', diagFiles);
    let max = ctx.shared.maxRate;
    if (!max) {
      max = {};
      for (const side of SIDES) max[side] = (await load(ctx, `d maximum / ${side}`, trio.servers[side], bundleRead(trio.body), { kind: 'closed' })).perSecond;
    }
    // In rounds, as (a): a stall of the VM lasts hundreds of milliseconds and lands in one
    // side's window at random (keygate's in one run, node's in the next), where it alone sets
    // that window's p99. The median of the per-round percentiles is what a side typically
    // shows; every round's figures are in the report.
    const n = ctx.settings.rounds;
    const perRound: Array<Round<Side>> = [];
    const kept: Partial<Record<Side, number>> = {};
    for (let round = 1; round <= n; round++) {
      const got: Round<Side> = {};
      for (const side of roundOrder(SIDES, round)) {
        const rate = Math.round((max[side] ?? 0) / 2);
        const label = `d ${rate}/s (half of max) / ${side}, round ${round}/${n}`;
        // Diagnostics follow the first round only: each run's window is marked, and the file's windows are counted by run.
        const diagnose = round === 1 && diagFiles !== undefined && (side === 'node' || (side === 'keygate' && ctx.settings.keygateWorkers === 1));
        const r = await load(
          ctx,
          label,
          trio.servers[side],
          bundleRead(trio.body),
          { kind: 'rate', perSecond: rate },
          { markWindow: diagnose, durationMs: ctx.settings.roundDurationMs },
        );
        out.measure({ label, load: r, values: { 'target rate /s': rate } });
        got[side] = r;
        if (round === 1) kept[side] = r.attempts ?? 1;
      }
      perRound.push(got);
    }
    const percentile = (side: Side, q: 'p50Ms' | 'p99Ms' | 'p999Ms') => median(perRound.map((r) => r[side]?.[q]));
    const p50: Partial<Record<Side, number | null>> = {};
    const p99: Partial<Record<Side, number | null>> = {};
    const p999: Partial<Record<Side, number | null>> = {};
    for (const side of SIDES) {
      p50[side] = percentile(side, 'p50Ms');
      p99[side] = percentile(side, 'p99Ms');
      p999[side] = percentile(side, 'p999Ms');
    }
    const p99Ratios = roundRatios(perRound, SIDES, (r) => r.p99Ms);
    out.note(
      `p50/p99/p99.9 at half load: the median over ${n} round(s) of ${(ctx.settings.roundDurationMs / 1000).toFixed(1)} s per side, the order reversed every other round; ` +
        `p99 per round (ms): ${SIDES.map((side) => `${side} ${perRound.map((r) => r[side]?.p99Ms?.toFixed(2) ?? '–').join(', ')}`).join('; ')}. ` +
        `The p99 ratios that feed the targets are the medians of the per-round ratios: ${Object.entries(p99Ratios)
          .map(([name, r]) => `${name} ${r.median === null ? '–' : r.median.toFixed(2)} (${spread(r.rounds)})`)
          .join('; ')}.`,
    );
    // The generator's own share of the tail: nginx at keygate's rate (not nginx's own half).
    const kgRate = Math.round((max.keygate ?? 0) / 2);
    if (kgRate > 0) {
      const label = `d ${kgRate}/s (keygate's half) / nginx: the generator's own tail`;
      const r = await load(ctx, label, trio.servers.nginx, bundleRead(trio.body), { kind: 'rate', perSecond: kgRate });
      out.measure({ label, load: r, values: { 'target rate /s': kgRate } });
      out.figure({
        key: 'd_generator_p99_at_keygate_rate',
        title: "p99 of nginx at keygate's half rate (bounds the generator's own tail)",
        unit: 'ms',
        keygate: null,
        node: null,
        nginx: r.p99Ms,
        higherIsBetter: false,
      });
    }
    out.note(
      'Each server runs at half of its own maximum from (a) (its median rate over the rounds when (a) ran first, else one closed-loop run here). Requests are sent on a 1 ms timer over the 1000 keep-alive connections; ' +
        'latency is measured from sending to the last byte of the answer (from the scheduled time when no connection was free).',
    );
    out.figure({
      key: 'd_latency_p50_at_half_load',
      title: 'p50 latency at 50 % of max rate',
      unit: 'ms',
      keygate: p50.keygate ?? null,
      node: p50.node ?? null,
      nginx: p50.nginx ?? null,
      higherIsBetter: false,
    });
    out.figure({
      key: 'd_latency_p99_at_half_load',
      title: 'p99 latency at 50 % of max rate (median over rounds)',
      unit: 'ms',
      keygate: p99.keygate ?? null,
      node: p99.node ?? null,
      nginx: p99.nginx ?? null,
      higherIsBetter: false,
      ratios: p99Ratios,
    });
    out.figure({
      key: 'd_latency_p999_at_half_load',
      title: 'p99.9 latency at 50 % of max rate',
      unit: 'ms',
      keygate: p999.keygate ?? null,
      node: p999.node ?? null,
      nginx: p999.nginx ?? null,
      higherIsBetter: false,
    });
    if (diagFiles) {
      await ctx.stopAll(); // the diagnostics are written as each server exits
      for (const side of ['keygate', 'node'] as const) {
        // Windows alternate: before a measured window, the measured window, …; the kept attempt's is reported.
        reportDiagnostics(out, `d diagnostics / ${side}`, diagFiles[side], kept[side] ?? 1);
      }
      out.note(
        '--diagnose: event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and GC pauses (PerformanceObserver gc entries) of keygate and the node baseline over their measured window (bench/diag-preload.mjs).',
      );
    }
  },
};
