/**
 * The load generator: forks `procs` worker processes (loadgen-worker.ts),
 * splits the client identities and the rate between them, starts them
 * together once every connection is open, and merges what they measured.
 *
 * It presents a client certificate per identity (what wrk cannot), and
 * reports its own CPU use next to the server's so a reader can tell when the
 * generator, not the server, was the limit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Histogram } from './histogram.js';
import type { ClientIdentity, FromWorker, JobResult, JobSpec, LoadMode } from './loadgen-types.js';
import { machineBusyMs, stopChild, track, treeCpuMs } from './procs.js';

const WORKER = fileURLToPath(new URL('./loadgen-worker.ts', import.meta.url));
export const CORES = availableParallelism();

export interface LoadJob extends Omit<JobSpec, 'identities'> {
  identities: ClientIdentity[];
}

export interface LoadResult {
  completed: number;
  /** Completed responses per second of the measured window. */
  perSecond: number;
  errors: number;
  mismatches: number;
  errorSamples: string[];
  reconnects: number;
  /** Handshake mode: share of connections whose session was resumed. */
  resumedShare: number | null;
  queued: number;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  /** Generator CPU time over the window, in cores (1.0 = one core busy). */
  generatorCores: number;
  /** The same as a share of all the machine's cores. */
  generatorShare: number;
  /** Server CPU time over the window, in cores (its whole process tree). */
  serverCores: number | null;
  /**
   * CPU the rest of the machine used over the window, in cores (everything busy minus
   * server and generator): other processes disturbing the measurement.
   */
  otherCores: number | null;
  /** Longest stall of a generator's event loop in the window, ms. */
  generatorStallMs: number;
  /** How many times the measurement was run (see `load` in scenarios/common.ts). */
  attempts?: number;
  /**
   * The window's latencies as non-empty histogram buckets (histogram.ts), so runs measured in
   * rounds can report percentiles over all their samples. Left out of the JSON report.
   */
  histogram?: Array<[number, number]>;
}

/** Identities dealt out round-robin, so every worker gets a similar share. */
function deal<T>(items: T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => out[i % n]!.push(item));
  return out;
}

function share(mode: LoadMode, n: number): LoadMode {
  if (mode.kind === 'rate') return { kind: 'rate', perSecond: mode.perSecond / n };
  if (mode.kind === 'handshake') return { ...mode, loops: Math.max(1, Math.round(mode.loops / n)) };
  if (mode.kind === 'closed' && mode.inflight !== undefined) return { kind: 'closed', inflight: Math.max(1, Math.round(mode.inflight / n)) };
  return mode;
}

/** Runs one load job against one server; `serverPid` is sampled for its CPU time over the same window. */
export async function runLoad(job: LoadJob, procs: number, serverPid?: number, markWindow = false): Promise<LoadResult> {
  const n = Math.max(1, Math.min(procs, job.identities.length));
  const parts = deal(job.identities, n);
  const workers: ChildProcess[] = [];
  try {
    const results = Promise.all(
      parts.map((identities) => {
        const child = track(fork(WORKER, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
        workers.push(child);
        return talk(child, { ...job, identities, mode: share(job.mode, n) });
      }),
    );
    results.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
    await Promise.all(workers.map((w) => waitFor(w, 'ready', 120_000)));
    for (const w of workers) w.send({ type: 'go' });
    const cpu = await sampleServer(serverPid, job.warmupMs, job.durationMs, markWindow);
    const all = await results;
    return merge(all, cpu, job.mode.kind === 'handshake');
  } finally {
    // A worker exits by itself once it has reported; one that does not is killed.
    await Promise.all(workers.map((w) => exited(w, 3000).then((done) => (done ? undefined : stopChild(w, 'SIGKILL', 0)))));
  }
}

function talk(child: ChildProcess, spec: JobSpec): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error('load generator: no result in time')), spec.warmupMs + spec.durationMs + 120_000);
    child.on('message', (m: FromWorker) => {
      if (m.type === 'result') resolve(m.result);
      if (m.type === 'failed') reject(new Error(`load generator: ${m.message}`));
      if (m.type !== 'ready') clearTimeout(limit);
    });
    child.once('exit', (code) => {
      clearTimeout(limit);
      reject(new Error(`load generator exited (${code})`));
    });
    child.send({ type: 'job', spec });
  });
}

function waitFor(child: ChildProcess, type: FromWorker['type'], ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error(`load generator: not ${type} after ${ms} ms`)), ms);
    const on = (m: FromWorker) => {
      if (m.type === type) {
        clearTimeout(limit);
        child.off('message', on);
        resolve();
      } else if (m.type === 'failed') {
        clearTimeout(limit);
        reject(new Error(`load generator: ${m.message}`));
      }
    };
    child.on('message', on);
    child.once('exit', () => reject(new Error('load generator exited before it was ready')));
  });
}

/** Server CPU over the measured window (the workers time the window themselves; this follows the same clock). */
async function sampleServer(pid: number | undefined, warmupMs: number, durationMs: number, mark: boolean): Promise<{ server: number; machine: number } | null> {
  if (pid === undefined) return null;
  await sleep(warmupMs);
  // --diagnose: the server's diagnostics (diag-preload.mjs) start a window at each SIGUSR2.
  if (mark) process.kill(pid, 'SIGUSR2');
  const before = { server: treeCpuMs(pid), machine: machineBusyMs() };
  const t0 = performance.now();
  await sleep(durationMs);
  const wall = performance.now() - t0;
  if (mark) process.kill(pid, 'SIGUSR2');
  return { server: (treeCpuMs(pid) - before.server) / wall, machine: (machineBusyMs() - before.machine) / wall };
}

function merge(results: JobResult[], cpu: { server: number; machine: number } | null, handshakes: boolean): LoadResult {
  const h = new Histogram();
  let wallMs = 0;
  let cpuUs = 0;
  let stall = 0;
  const sum = { completed: 0, errors: 0, mismatches: 0, reconnects: 0, resumed: 0, queued: 0 };
  const errorSamples: string[] = [];
  for (const r of results) {
    h.merge(r.histogram);
    wallMs = Math.max(wallMs, r.wallMs);
    stall = Math.max(stall, r.loopDelayMaxMs);
    cpuUs += r.cpuUserUs + r.cpuSystemUs;
    for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += r[k];
    errorSamples.push(...r.errorSamples);
  }
  const generatorCores = cpuUs / 1000 / wallMs;
  return {
    ...sum,
    perSecond: (sum.completed * 1000) / wallMs,
    errorSamples: errorSamples.slice(0, 5),
    resumedShare: handshakes && sum.completed > 0 ? sum.resumed / sum.completed : null,
    p50Ms: h.percentileMs(50),
    p99Ms: h.percentileMs(99),
    p999Ms: h.percentileMs(99.9),
    generatorCores,
    generatorShare: generatorCores / CORES,
    serverCores: cpu?.server ?? null,
    otherCores: cpu ? Math.max(0, cpu.machine - cpu.server - generatorCores) : null,
    generatorStallMs: stall,
    histogram: h.toPairs(),
  };
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const limit = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(limit);
      resolve(true);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
