/** Building blocks the scenarios share: keygate with a bundle in it, the three servers side by side, a load run. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, ScenarioOutput, Side } from '../context.js';
import { callOK } from '../client.js';
import { Histogram } from '../histogram.js';
import type { RatioName, RoundRatio } from '../report.js';
import { div, spread } from '../report.js';
import { runLoad, sleep, type LoadResult } from '../loadgen.js';
import { machineBusyMs } from '../procs.js';
import type { ClientIdentity, LoadMode, RequestSpec } from '../loadgen-types.js';
import { startKeygate, startNginx, startNodeBaseline, type KeygateOptions, type Server, type StaticRoute } from '../servers.js';

/** The bundle every read scenario fetches. */
export const BUNDLE = 'bench-a.example';
export const BUNDLE_PATH = `/v1/cert/get/${BUNDLE}`;
export const BUNDLE_TTL = 3600;

/** The run's node flags for a server of ours, with --cpu-prof into profiles/<name> when the run asks for profiles. */
export function serverNodeFlags(ctx: BenchContext, name: string): string[] {
  const profile = ctx.settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.settings.tmp, 'profiles', name)}`] : [];
  return [...ctx.settings.serverFlags, ...profile];
}

/** Starts keygate in `<tmp>/<name>`, profiled when the run asks for it. */
export async function keygate(ctx: BenchContext, name: string, opts: Partial<KeygateOptions> = {}): Promise<Server> {
  const dir = join(ctx.settings.tmp, name);
  const nodeFlags = [...serverNodeFlags(ctx, name), ...(opts.nodeFlags ?? [])];
  const env = { ...ctx.settings.serverEnv, ...opts.env };
  return ctx.use(await startKeygate(ctx.settings.repo, { dir, pki: ctx.pki, keystore: { memory: {} }, ...opts, nodeFlags, env }));
}

/** Imports `name` as the admin through the API, the way an operator would. */
export async function importBundle(ctx: BenchContext, server: Server, name: string): Promise<void> {
  const { chainPem, keyPem } = ctx.pki.bundle(name);
  await callOK(server.port, ctx.pki.caPem, ctx.pki.admin, `/v1/cert/import/${name}`, {
    method: 'PUT',
    body: { certificate: chainPem, private_key: keyPem, ttl: BUNDLE_TTL },
  });
}

/** What keygate answers a node for `path`: the exact bytes the baselines will serve. */
export async function fetchBytes(ctx: BenchContext, server: Server, path: string): Promise<Buffer> {
  return (await callOK(server.port, ctx.pki.caPem, ctx.pki.clients[0] as ClientIdentity, path)).body;
}

export interface Trio {
  servers: Record<Side, Server>;
  /** The bundle's bytes as keygate serves them. */
  body: Buffer;
}

/** node flags and environment that make a server record its event-loop delay and GC pauses into `file` (diag-preload.mjs). */
export function diagnostics(file: string): { nodeFlags: string[]; env: Record<string, string> } {
  return { nodeFlags: ['--import', new URL('../diag-preload.mjs', import.meta.url).pathname], env: { KEYGATE_BENCH_DIAG: file } };
}

/**
 * keygate (memory keystore, one worker, unless the run asks for more workers) with the bundle imported,
 * and the two baselines serving its bytes.
 * `diag`: files keygate and the node baseline write their diagnostics to.
 */
export async function startTrio(ctx: BenchContext, name: string, diag?: { keygate: string; node: string }): Promise<Trio> {
  const workers = ctx.settings.keygateWorkers;
  const kg = await keygate(ctx, `${name}-keygate`, {
    // Diagnostics follow one process: with several workers keygate is left out of them.
    ...(diag && workers === 1 ? diagnostics(diag.keygate) : {}),
    ...(workers !== 1 ? { workers, keystore: { fs: { path: join(ctx.settings.tmp, `${name}-keygate`, 'store') } } } : {}),
  });
  await importBundle(ctx, kg, BUNDLE);
  const body = await fetchBytes(ctx, kg, BUNDLE_PATH);
  const routes: StaticRoute[] = [{ path: BUNDLE_PATH, body, contentType: 'application/json' }];
  const nodeDiag = diag ? diagnostics(diag.node) : { nodeFlags: [], env: {} };
  const node = ctx.use(
    await startNodeBaseline(join(ctx.settings.tmp, `${name}-node`), ctx.pki, routes, {
      nodeFlags: [...ctx.settings.serverFlags, ...nodeDiag.nodeFlags],
      env: { ...ctx.settings.serverEnv, ...nodeDiag.env },
    }),
  );
  const nginx = ctx.use(await startNginx(join(ctx.settings.tmp, `${name}-nginx`), ctx.pki, routes));
  // nginx must really serve the same bytes, or the comparison means nothing.
  const viaNginx = await fetchBytes(ctx, nginx, BUNDLE_PATH);
  if (!viaNginx.equals(body)) throw new Error('nginx does not serve the bytes keygate serves');
  return { servers: { keygate: kg, node, nginx }, body };
}

export const SIDES: Side[] = ['keygate', 'node', 'nginx'];

/** The read of the shared bundle, checked byte for byte on every response. */
export function bundleRead(body: Buffer): RequestSpec {
  return { method: 'GET', path: BUNDLE_PATH, expectStatus: 200, expectBodyB64: body.toString('base64') };
}

export interface LoadOptions {
  identities?: ClientIdentity[];
  warmupMs?: number;
  durationMs?: number;
  /** Send the server SIGUSR2 at the start and end of the measured window (--diagnose). */
  markWindow?: boolean;
}

/** Other processes busier than this (in cores) during a window make it a disturbed measurement, run again. */
const DISTURBED_CORES = 0.3;
const ATTEMPTS = 3;

/**
 * One load run against `server` with the run's settings, logged as it finishes.
 * This machine may be shared: a window during which other processes used more
 * than DISTURBED_CORES is run again (up to ATTEMPTS times, within the run's
 * retry budget), and the least disturbed attempt is kept.
 */
export async function load(
  ctx: BenchContext,
  label: string,
  server: Server,
  request: RequestSpec,
  mode: LoadMode,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  let best: LoadResult | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    await waitForQuiet(ctx, label);
    const started = performance.now();
    const r = await runLoad(
      {
        port: server.port,
        servername: 'localhost',
        caPem: ctx.pki.caPem,
        identities: opts.identities ?? ctx.pki.clients,
        request,
        mode,
        warmupMs: opts.warmupMs ?? ctx.settings.warmupMs,
        durationMs: opts.durationMs ?? ctx.settings.durationMs,
      },
      ctx.settings.procs,
      server.pid,
      opts.markWindow ?? false,
    );
    const result = { ...r, attempts: attempt };
    if (!best || (result.otherCores ?? 0) < (best.otherCores ?? 0)) best = result;
    const other = result.otherCores ?? 0;
    if (other <= DISTURBED_CORES || attempt === ATTEMPTS || !ctx.spendRetry(performance.now() - started)) break;
    ctx.log(`  ${label}: other processes used ${other.toFixed(2)} cores meanwhile; measuring again`);
  }
  const result = best as LoadResult;
  const bad = result.errors + result.mismatches;
  ctx.log(
    `  ${label}: ${result.perSecond.toFixed(0)}/s, p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)}, p99.9 ${fmtMs(result.p999Ms)}, ` +
      `generator ${result.generatorCores.toFixed(2)} cores, server ${result.serverCores?.toFixed(2) ?? '?'} cores, other ${result.otherCores?.toFixed(2) ?? '?'}` +
      `${bad ? `, ${bad} errors (${result.errorSamples[0] ?? ''})` : ''}`,
  );
  return result;
}

/**
 * Waits (within the run's retry budget, at most QUIET_WAIT_MS) until the rest of the
 * machine has been quiet for a second: the servers under test are idle between runs,
 * so what is busy then is someone else.
 */
async function waitForQuiet(ctx: BenchContext, label: string): Promise<void> {
  const started = performance.now();
  let logged = false;
  while (performance.now() - started < QUIET_WAIT_MS) {
    const before = machineBusyMs();
    const t0 = performance.now();
    await sleep(1000);
    const busy = (machineBusyMs() - before) / (performance.now() - t0);
    if (busy <= DISTURBED_CORES) break;
    if (!ctx.spendRetry(performance.now() - t0)) break;
    if (!logged) ctx.log(`  ${label}: waiting for other processes to quiet down (${busy.toFixed(2)} cores busy)`);
    logged = true;
  }
}

const QUIET_WAIT_MS = 20_000;

const fmtMs = (v: number | null): string => (v === null ? '–' : `${v.toFixed(2)} ms`);

/** CPU milliseconds per request: the server's cores over the window divided by its rate. */
export const cpuPerRequestMs = (r: LoadResult): number | null => (r.serverCores === null || r.perSecond <= 0 ? null : (r.serverCores * 1000) / r.perSecond);

/** The sides in round `round` (from 1): as listed in odd rounds, reversed in even ones, so no side is always measured first. */
export function roundOrder<T>(sides: readonly T[], round: number): T[] {
  return round % 2 === 1 ? [...sides] : [...sides].reverse();
}

/** Median of the known values (the mean of the middle two for an even count); null when none is known. */
export function median(values: Array<number | null | undefined>): number | null {
  const known = values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (known.length === 0) return null;
  const mid = Math.floor(known.length / 2);
  return known.length % 2 === 1 ? known[mid]! : (known[mid - 1]! + known[mid]!) / 2;
}

/** Every side's load run of one round. */
export type Round<S extends Side> = Partial<Record<S, LoadResult>>;

/**
 * Measures every side once per round for `ctx.settings.rounds` rounds, the order alternating,
 * against servers that stay up throughout: the machine's rate drifts by a third within
 * minutes, so only sides measured close together compare. Each run and each round's ratios
 * go into the report as measurements.
 */
export async function loadInRounds<S extends Side>(
  ctx: BenchContext,
  out: ScenarioOutput,
  name: string,
  sides: Array<[S, Server]>,
  request: RequestSpec,
  mode: LoadMode,
  opts: LoadOptions & { sideName?: (side: S) => string; rounds?: number } = {},
): Promise<Array<Round<S>>> {
  const { sideName = (side: S) => side, rounds: asked, ...loadOpts } = opts;
  const n = asked ?? ctx.settings.rounds;
  const rounds: Array<Round<S>> = [];
  for (let round = 1; round <= n; round++) {
    const order = roundOrder(sides, round);
    const got: Round<S> = {};
    for (const [side, server] of order) {
      const l = `${name} / ${sideName(side)}, round ${round}/${n}`;
      const r = await load(ctx, l, server, request, mode, { durationMs: ctx.settings.roundDurationMs, ...loadOpts });
      const cpu = cpuPerRequestMs(r);
      out.measure({ label: l, load: r, values: { 'CPU ms/request': cpu === null ? null : Number(cpu.toFixed(3)) } });
      got[side] = r;
    }
    rounds.push(got);
    const values: Record<string, number | null> = {};
    for (const [name, a, b] of ratioPairs(sides.map(([s]) => s))) values[name] = ratioOf(got[a], got[b]);
    out.measure({ label: `${name}, round ${round}/${n} (${order.map(([s]) => sideName(s)).join(' → ')}): rate ratios`, values });
  }
  return rounds;
}

/** `of` of one run over `of` of another (by default their rates); null when either is unknown or the divisor is not positive. */
const ratioOf = (a: LoadResult | undefined, b: LoadResult | undefined, of: (r: LoadResult) => number | null = (r) => r.perSecond): number | null =>
  div(a && of(a), b && of(b));

function ratioPairs<S extends Side>(sides: S[]): Array<[RatioName, S, S]> {
  const all: Array<[RatioName, Side, Side]> = [
    ['keygate/node', 'keygate', 'node'],
    ['keygate/nginx', 'keygate', 'nginx'],
    ['node/nginx', 'node', 'nginx'],
  ];
  return all.filter(([, a, b]) => sides.includes(a as S) && sides.includes(b as S)) as Array<[RatioName, S, S]>;
}

export interface RoundsSummary<S extends Side> {
  /** Median rate over the rounds. */
  rate: Partial<Record<S, number | null>>;
  /** Median CPU per request over the rounds. */
  cpuPerRequestMs: Partial<Record<S, number | null>>;
  p50Ms: Partial<Record<S, number | null>>;
  p99Ms: Partial<Record<S, number | null>>;
  p999Ms: Partial<Record<S, number | null>>;
  /** Per-round ratios of the sides and their median. */
  ratios: Partial<Record<RatioName, RoundRatio>>;
  /** Where the percentiles come from: every round's samples together, or (without histograms) the round whose rate is the median. */
  percentiles: 'merged' | 'median round';
}

export function summarizeRounds<S extends Side>(rounds: Array<Round<S>>, sides: S[]): RoundsSummary<S> {
  const sum: RoundsSummary<S> = { rate: {}, cpuPerRequestMs: {}, p50Ms: {}, p99Ms: {}, p999Ms: {}, ratios: {}, percentiles: 'merged' };
  for (const side of sides) {
    const runs = rounds.map((r) => r[side]).filter((r): r is LoadResult => r !== undefined);
    const rate = median(runs.map((r) => r.perSecond));
    sum.rate[side] = rate;
    sum.cpuPerRequestMs[side] = median(runs.map(cpuPerRequestMs));
    if (runs.length > 0 && runs.every((r) => r.histogram)) {
      const h = new Histogram();
      for (const r of runs) h.merge(r.histogram!);
      sum.p50Ms[side] = h.percentileMs(50);
      sum.p99Ms[side] = h.percentileMs(99);
      sum.p999Ms[side] = h.percentileMs(99.9);
    } else {
      sum.percentiles = 'median round';
      const mid = runs.reduce<LoadResult | undefined>(
        (best, r) => (best === undefined || Math.abs(r.perSecond - (rate ?? 0)) < Math.abs(best.perSecond - (rate ?? 0)) ? r : best),
        undefined,
      );
      sum.p50Ms[side] = mid?.p50Ms ?? null;
      sum.p99Ms[side] = mid?.p99Ms ?? null;
      sum.p999Ms[side] = mid?.p999Ms ?? null;
    }
  }
  sum.ratios = roundRatios(rounds, sides);
  return sum;
}

/** Every pair of `sides`' per-round ratios of `of` (by default the rate), with their median. */
export function roundRatios<S extends Side>(
  rounds: Array<Round<S>>,
  sides: S[],
  of?: (r: LoadResult) => number | null,
): Partial<Record<RatioName, RoundRatio>> {
  const ratios: Partial<Record<RatioName, RoundRatio>> = {};
  for (const [name, a, b] of ratioPairs(sides)) {
    const per = rounds.map((r) => ratioOf(r[a], r[b], of));
    ratios[name] = { median: median(per), rounds: per };
  }
  return ratios;
}

/** The report's note on how a figure measured in rounds came about, every round's rates and ratios included. */
export function roundsNote<S extends Side>(ctx: BenchContext, what: string, rounds: Array<Round<S>>, sides: S[], sum: RoundsSummary<S>): string {
  const rates = sides.map((side) => `${side} ${rounds.map((r) => (r[side] ? Math.round(r[side].perSecond).toLocaleString('en-US') : '–')).join(', ')}`);
  const ratios = Object.entries(sum.ratios).map(([name, r]) => `${name} ${r.median === null ? '–' : r.median.toFixed(2)} (${spread(r.rounds)})`);
  return (
    `${what}: ${rounds.length} round(s) of ${(ctx.settings.roundDurationMs / 1000).toFixed(1)} s measured per side, the order reversed every other round; ` +
    `rates per round (/s): ${rates.join('; ')}. Median of the per-round ratios: ${ratios.join('; ')}. ` +
    (sum.percentiles === 'merged'
      ? 'p50/p99/p99.9 are over the samples of all rounds together.'
      : 'p50/p99/p99.9 are those of the round whose rate is the median (no histogram to merge).')
  );
}

interface DiagWindow {
  seconds: number;
  loopDelayMs: { p50: number; p99: number; p999: number; max: number };
  gc: { pauses: number; totalMs: number; maxMs: number; over5ms: number; over20ms: number; byKind: Record<string, number> };
  memory: { rssMiB: number; heapUsedMiB: number };
  stalls?: { over8ms: number; totalMs: number; runMs: number; gcMs: number; waitMs: number; longest: string };
}

/**
 * Reports the measured window of a server's --diagnose file (diag-preload.mjs, written as the
 * server exits): the windows alternate between before a measured run and the run, and
 * `attempt` (from 1) says which run was kept.
 */
export function reportDiagnostics(out: ScenarioOutput, label: string, file: string, attempt: number): void {
  let windows: DiagWindow[] | undefined;
  try {
    windows = JSON.parse(readFileSync(file, 'utf8')) as DiagWindow[];
  } catch {
    windows = undefined;
  }
  const w = windows?.[2 * attempt - 1];
  if (!w) {
    out.note(`--diagnose: no diagnostics for ${label}`);
    return;
  }
  out.measure({
    label: `${label} (measured window, ${w.seconds} s)`,
    values: {
      'event-loop delay p50 ms': w.loopDelayMs.p50,
      'p99 ms': w.loopDelayMs.p99,
      'p99.9 ms': w.loopDelayMs.p999,
      'max ms': w.loopDelayMs.max,
      'GC pauses': w.gc.pauses,
      'GC total ms': w.gc.totalMs,
      'GC max ms': w.gc.maxMs,
      'GC > 5 ms': w.gc.over5ms,
      'GC > 20 ms': w.gc.over20ms,
      'GC kinds': Object.entries(w.gc.byKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(' '),
      ...(w.stalls
        ? {
            'stalls > 8 ms': w.stalls.over8ms,
            'stalled ms': w.stalls.totalMs,
            'of which ran': w.stalls.runMs,
            'in GC': w.stalls.gcMs,
            'waited for a core': w.stalls.waitMs,
            'longest (ms)': w.stalls.longest,
          }
        : {}),
      'RSS MiB': w.memory.rssMiB,
      'heap used MiB': w.memory.heapUsedMiB,
    },
  });
}
