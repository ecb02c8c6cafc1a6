/**
 * (f) the keep-alive read scenario with the Vault keystore (KV v2, token auth)
 * through the project's Vault-compatible test server: with the read cache
 * warm, and cold (`cache.max_bytes: 0`: every read goes to Vault), next to a
 * memory-backed keygate measured in the same scenario.
 */
import type { Scenario } from '../context.js';
import type { LoadResult } from '../loadgen.js';
import { div } from '../report.js';
import { startVault, type Server } from '../servers.js';
import { BUNDLE, BUNDLE_PATH, bundleRead, fetchBytes, importBundle, keygate, load, median, roundOrder } from './common.js';

const ROOT_TOKEN = 'bench-root-token';

export const vaultReads: Scenario = {
  id: 'f',
  title: 'keep-alive bundle reads with the Vault keystore (test server), cache warm and cold',
  async run(ctx, out) {
    const start = async (name: string, opts: Parameters<typeof keygate>[2], importFirst: boolean): Promise<{ kg: Server; body: Buffer }> => {
      const kg = await keygate(ctx, name, opts);
      if (importFirst) await importBundle(ctx, kg, BUNDLE);
      return { kg, body: await fetchBytes(ctx, kg, BUNDLE_PATH) };
    };
    const read = async (label: string, { kg, body }: { kg: Server; body: Buffer }, durationMs?: number): Promise<LoadResult> => {
      const r = await load(ctx, label, kg, bundleRead(body), { kind: 'closed' }, durationMs === undefined ? {} : { durationMs });
      out.measure({ label, load: r });
      return r;
    };
    const vault = ctx.use(await startVault(ctx.settings.repo, ROOT_TOKEN));
    const keystore = { vault: { endpoint: vault.url, engine: 'secret', version: 'v2', token: ROOT_TOKEN, prefix: 'keygate-bench' } };

    // The target compares two servers' rates: in rounds, as (a), the order reversed every other
    // round, both servers up throughout; the target is the median of the per-round ratios.
    const sides = { memory: await start('f-memory', {}, true), warm: await start('f-vault-warm', { keystore }, true) };
    const n = ctx.settings.rounds;
    const rounds: Array<Partial<Record<keyof typeof sides, LoadResult>>> = [];
    for (let round = 1; round <= n; round++) {
      const got: Partial<Record<keyof typeof sides, LoadResult>> = {};
      for (const side of roundOrder(['memory', 'warm'] as const, round)) {
        const what = side === 'memory' ? 'memory keystore' : 'Vault keystore, cache warm';
        got[side] = await read(`f reads, ${what} / keygate, round ${round}/${n}`, sides[side], ctx.settings.roundDurationMs);
      }
      rounds.push(got);
    }
    for (const { kg } of Object.values(sides)) await ctx.stop(kg);
    const rate = (side: keyof typeof sides) => median(rounds.map((r) => r[side]?.perSecond));
    const perRound = rounds.map((r) => div(r.warm?.perSecond, r.memory?.perSecond));
    out.figure({
      key: 'f_memory_reads',
      title: 'keep-alive bundle reads, memory keystore (median over rounds)',
      unit: 'req/s',
      keygate: rate('memory'),
      node: null,
      nginx: null,
      higherIsBetter: true,
    });
    out.figure({
      key: 'f_vault_reads_warm',
      title: 'keep-alive bundle reads, Vault keystore, cache warm (median over rounds)',
      unit: 'req/s',
      keygate: rate('warm'),
      node: null,
      nginx: null,
      higherIsBetter: true,
    });
    out.figure({
      key: 'f_vault_warm_vs_memory',
      title: 'warm Vault-backed reads / memory-backed reads (median of the per-round ratios)',
      unit: '×',
      keygate: median(perRound),
      node: null,
      nginx: null,
      higherIsBetter: true,
      keygateRounds: perRound,
    });
    out.note(
      `Memory and warm Vault: ${n} round(s) of ${(ctx.settings.roundDurationMs / 1000).toFixed(1)} s each, the order reversed every other round; per round (req/s): ` +
        `memory ${rounds.map((r) => (r.memory ? Math.round(r.memory.perSecond) : '–')).join(', ')}; warm ${rounds.map((r) => (r.warm ? Math.round(r.warm.perSecond) : '–')).join(', ')}; ` +
        `warm / memory ${perRound.map((x) => (x === null ? '–' : x.toFixed(2))).join(', ')}. The cold run is measured once, after them.`,
    );
    const coldServer = await start('f-vault-cold', { keystore, cache: { max_bytes: 0 } }, false);
    const cold = await read('f reads, Vault keystore, no cache / keygate', coldServer);
    await ctx.stop(coldServer.kg);
    out.figure({
      key: 'f_vault_reads_cold',
      title: 'keep-alive bundle reads, Vault keystore, cache off (every read to Vault)',
      unit: 'req/s',
      keygate: cold.perSecond,
      node: null,
      nginx: null,
      higherIsBetter: true,
    });
    out.figure({
      key: 'f_vault_reads_cold_p99',
      title: 'p99 of those cold reads at maximum rate',
      unit: 'ms',
      keygate: cold.p99Ms,
      node: null,
      nginx: null,
      higherIsBetter: false,
    });
    out.note(
      `Same load as (a): ${ctx.pki.clients.length} identities, one keep-alive connection each, closed loop. The Vault test server is a Node process ` +
        '(test/vault-server) on plain HTTP over loopback, KV v2 mounted at secret/, root-token auth; it shares the 2 cores with keygate and the generator, ' +
        'so the cold figure is bounded by it as much as by keygate. The server CPU column counts keygate only.',
    );
  },
};
