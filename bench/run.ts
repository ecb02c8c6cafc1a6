/**
 * `make bench` (npx tsx bench/run.ts): runs the scenarios of issue 6 against
 * keygate, a bare node:https server and nginx, and writes the report to
 * bench/results/. Targets are reported, never asserted: the exit code is 0
 * whenever a report was written, unless the figures in docs/performance.md are
 * older than the last commit that touched the hot path (stale.ts): then the run
 * ends with a loud warning and exit code 3.
 *
 *   --only a,b,...   scenarios to run (default all: a d b c f n e g m)
 *   --duration S     measured seconds per load run (default 8)
 *   --warmup S       warm-up seconds before each (default 2)
 *   --rounds N       scenarios a, b, c, d, e and f measure every side N times, the order alternating (default 3)
 *   --round-duration S  measured seconds of one round in a, b, c, d and f (default: --duration / --rounds, at least 2; e keeps --duration)
 *   --procs N        load generator processes (default 1)
 *   --clients N      client identities (default 1000)
 *   --profile        start keygate with --cpu-prof; profiles go to bench/results/profiles/
 *   --diagnose       scenarios d and e also record keygate's and the node baseline's event-loop delay and GC pauses
 *   --node-flags=F   extra node flags (space-separated) for keygate and the bare node baseline, e.g. --node-flags="--max-semi-space-size=32"
 *   --server-env=E   environment (space-separated NAME=value) for keygate and the node baselines, e.g. --server-env=GLIBC_TUNABLES=glibc.malloc.hugetlb=1
 *   --keygate-workers N  keygate's server.workers in scenarios a and d (default 1; more use an fs keystore)
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchContext, ScenarioOutput, type BenchSettings, type Scenario } from './context.js';
import { CORES } from './loadgen.js';
import { createBenchPKI } from './pki.js';
import { killAllSync } from './procs.js';
import { environment, writeReports, type ScenarioReport } from './report.js';
import { computeTargets } from './targets.js';
import { FIGURES_DOC, checkStaleFigures } from './stale.js';
import { keepAliveReads, latencyAtHalfLoad } from './scenarios/keepalive.js';
import { handshakes } from './scenarios/handshakes.js';
import { generateDataKeys } from './scenarios/generate.js';
import { fsScale } from './scenarios/fs-scale.js';
import { vaultReads } from './scenarios/vault.js';
import { pkiSigning } from './scenarios/pki-sign.js';
import { migration } from './scenarios/migrate.js';
import { nodeFetch } from './scenarios/node-fetch.js';

const SCENARIOS: Scenario[] = [keepAliveReads, latencyAtHalfLoad, handshakes, generateDataKeys, vaultReads, nodeFetch, fsScale, pkiSigning, migration];
/**
 * Past this the run stops what it is doing and reports what it has (the issue allows 15 minutes;
 * full runs took 12.8–13.9 minutes before (a) and (c) were measured in rounds, which adds 1–2).
 */
const WATCHDOG_MS = 14 * 60_000;

const repo = resolve(new URL('..', import.meta.url).pathname);
const log = (line: string): void => void process.stderr.write(line + '\n');

function settings(): { settings: BenchSettings; only: Set<string>; clients: number } {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      duration: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '3' },
      'round-duration': { type: 'string' },
      procs: { type: 'string', default: '1' },
      clients: { type: 'string', default: '1000' },
      profile: { type: 'boolean', default: false },
      diagnose: { type: 'boolean', default: false },
      'node-flags': { type: 'string', default: '' },
      'server-env': { type: 'string', default: '' },
      'keygate-workers': { type: 'string', default: '1' },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: a whole number of at least 1, not ${values.rounds}`);
  const durationMs = Number(values.duration) * 1000;
  // By default a side is measured about as long over all its rounds as it was in one run before rounds, so the run takes little longer.
  const roundDurationMs =
    values['round-duration'] !== undefined ? Number(values['round-duration']) * 1000 : Math.round(Math.max(Math.min(2000, durationMs), durationMs / rounds));
  const only = new Set((values.only ?? SCENARIOS.map((s) => s.id).join(',')).split(',').map((s) => s.trim()));
  return {
    settings: {
      repo,
      tmp: mkdtempSync(join(tmpdir(), 'keygate-bench-')),
      warmupMs: Number(values.warmup) * 1000,
      durationMs,
      rounds,
      roundDurationMs,
      procs: Number(values.procs),
      profile: values.profile ?? false,
      diagnose: values.diagnose ?? false,
      serverFlags: (values['node-flags'] ?? '').split(' ').filter((f) => f !== ''),
      serverEnv: parseEnv(values['server-env'] ?? ''),
      keygateWorkers: Number(values['keygate-workers']),
    },
    only,
    clients: Number(values.clients),
  };
}

function setupNotes(s: BenchSettings, clients: number): string[] {
  return [
    `Server and load generator share this machine's ${CORES} cores; nothing is pinned. Requests go only to 127.0.0.1.`,
    'keygate runs with one worker (`server.workers: 1`) for every comparison; nginx with `worker_processes 1`; the bare node:https server is one process.',
    `${clients} client identities (one P-256 key each) signed by a bench CA. All three servers request and verify client certificates against it ` +
      '(keygate `tls.auth: on` + policy `allow: [/v1/cert/get/*]` for those identities; nginx `ssl_verify_client on`; node `requestCert` + `rejectUnauthorized`, ' +
      'the identity hashed once per connection and checked against the same set). nginx and node serve the exact bytes keygate returns, as a static file / a buffer.',
    'Logs: keygate writes its audit log to a file, nginx its access log to a file, the bare node server logs nothing.',
    `Load generator: ${s.procs} process(es) of bench/loadgen-worker.ts (Node; raw HTTP/1.1 over node:tls, one SecureContext per identity, keep-alive). ` +
      `CPU columns are cores busy over the measured window (out of ${CORES}): the generator's, the server's process tree, and everything else on the machine ` +
      '("other processes", e.g. other jobs sharing it). Each run first waits (up to 20 s) for the machine to be quiet; a window where other processes ' +
      'used more than 0.3 cores is measured again (up to 3 attempts); waits and repeats share a 2-minute budget; the least disturbed attempt is kept. A generator near 1 core is flagged: that figure may be a lower bound.',
    `Every load run: ${s.warmupMs / 1000} s warm-up, then ${s.durationMs / 1000} s measured; in the rounds of (a), (b), (c), (d) and (f), ` +
      `${s.warmupMs / 1000} s warm-up, then ${(s.roundDurationMs / 1000).toFixed(1)} s measured, ${s.rounds} round(s) per side ` +
      `((e) measures its two servers in ${s.rounds} round(s) of ${s.durationMs / 1000} s).`,
    ...(s.serverFlags.length > 0
      ? [`keygate and the node baselines (bare node:https, KES-equivalent) ran with the node flags \`${s.serverFlags.join(' ')}\`.`]
      : []),
    ...(Object.keys(s.serverEnv).length > 0
      ? [
          `keygate and the node baselines ran with the environment \`${Object.entries(s.serverEnv)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}\`.`,
        ]
      : []),
    ...(s.keygateWorkers !== 1
      ? [`In scenarios a and d keygate ran with \`server.workers: ${s.keygateWorkers}\` and an fs keystore (workers cannot share a memory keystore).`]
      : []),
  ];
}

async function main(): Promise<void> {
  const { settings: s, only, clients } = settings();
  const started = performance.now();
  let aborted = false;
  const watchdog = setTimeout(() => {
    aborted = true;
    log(`bench: over ${WATCHDOG_MS / 60_000} minutes, stopping every process and reporting what was measured`);
    killAllSync();
  }, WATCHDOG_MS);
  const cleanup = (): void => {
    killAllSync();
    rmSync(s.tmp, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`bench: ${sig}, stopping`);
      cleanup();
      process.exit(130);
    });
  }

  try {
    const env = environment(repo);
    log(`bench: ${env.machine.cpu}, ${env.machine.cores} cores; node ${env.versions.node}; nginx ${env.versions.nginx}; keygate ${env.versions.keygate}`);
    let t = performance.now();
    const pki = createBenchPKI(s.tmp, clients);
    log(`bench: ${clients} client certificates in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const ctx = new BenchContext(s, pki, log);
    const reports: ScenarioReport[] = [];
    for (const scenario of SCENARIOS.filter((x) => only.has(x.id))) {
      const out = new ScenarioOutput();
      t = performance.now();
      log(`bench: (${scenario.id}) ${scenario.title}`);
      let error: string | undefined;
      if (aborted) error = 'skipped: the run hit its time limit';
      else {
        try {
          await scenario.run(ctx, out);
        } catch (err) {
          error = err instanceof Error ? err.message : String(err);
          log(`bench: (${scenario.id}) failed: ${error}`);
        } finally {
          await ctx.stopAll();
        }
      }
      reports.push(out.report(scenario.id, scenario.title, (performance.now() - t) / 1000, error));
    }
    const targets = computeTargets(reports);
    const setup = [...setupNotes(s, clients), `Whole run: ${((performance.now() - started) / 60_000).toFixed(1)} minutes.`];
    const files = writeReports(join(repo, 'bench', 'results'), env, reports, targets, setup);
    if (s.profile && existsSync(join(s.tmp, 'profiles'))) cpSync(join(s.tmp, 'profiles'), join(repo, 'bench', 'results', 'profiles'), { recursive: true });
    process.stdout.write(readFileSync(join(repo, 'bench', 'results', 'latest.md'), 'utf8') + '\n');
    for (const t of targets)
      log(
        `target ${t.informative ? 'info   ' : t.met ? 'met    ' : 'NOT met'}  ${t.title}: ${t.value === null ? '–' : t.value.toFixed(2)} (goal ${t.atLeast ? '≥' : '≤'} ${t.goal})`,
      );
    log(`bench: report in ${files.join(', ')}`);
    warnIfStale();
  } finally {
    clearTimeout(watchdog);
    cleanup();
  }
}

/** Last thing a run prints: whether the published figures still describe the code (stale.ts). */
function warnIfStale(): void {
  const reasons = checkStaleFigures(repo);
  if (reasons === null || reasons.length === 0) return;
  const bar = '!'.repeat(78);
  log(
    [
      '',
      bar,
      `!! STALE FIGURES: ${FIGURES_DOC} does not describe the current hot path:`,
      ...reasons.map((r) => `!!   - ${r}`),
      `!! Update its table (between <!-- bench-figures --> and <!-- /bench-figures -->) from a full run on a clean`,
      '!! checkout: bench/results/latest.md ends with the rows to copy, each with its commit.',
      bar,
    ].join('\n'),
  );
  process.exitCode = 3;
}

main().catch((err: unknown) => {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  killAllSync();
  process.exit(1);
});

/** `NAME=value NAME=value`, as --server-env takes it. */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(' ').filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--server-env: NAME=value pairs, not ${pair}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
