/**
 * A native generator for scenario (b): `openssl s_time`, several processes in
 * parallel, each opening one TLS connection after the other with the client
 * certificate, sending `GET <path> HTTP/1.0` (`-www`), reading the answer to
 * the server's close, and printing one character per connection (`r` when the
 * session was resumed). Connections are counted from those characters as they
 * arrive, so the measured window is the same one the CPU samples cover.
 *
 * - `-new`: every connection is a full handshake (no session offered).
 * - `-reuse`: the first connection is full; every later one offers the session
 *   the process holds (TLS 1.3: the latest ticket; a resumption is a PSK with
 *   ECDHE, no certificates signed or verified). The `r` share says how many resumed.
 *
 * s_time reports no per-connection latency, so p50/p99 are absent from its figures.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORES, sleep, type LoadResult } from './loadgen.js';
import { machineBusyMs, processCpuMs, stopChild, track, treeCpuMs } from './procs.js';
import type { ClientIdentity } from './loadgen-types.js';

export interface STimeJob {
  port: number;
  caFile: string;
  /** Written to `dir` as PEM files for s_time's `-cert` and `-key` (0600). */
  identity: ClientIdentity;
  dir: string;
  path: string;
  resume: boolean;
  /** s_time processes (each one connection at a time). */
  processes: number;
  warmupMs: number;
  durationMs: number;
  serverPid: number;
  /** An answer shorter than this (bytes per connection, headers included) is not the expected one. */
  minBytesPerConnection: number;
}

/** The openssl binary, when there is one that has `s_time`. */
export function openssl(): string | null {
  const r = spawnSync('openssl', ['s_time', '-help'], { encoding: 'utf8' });
  return r.error || !/-reuse/.test(`${r.stdout}${r.stderr}`) ? null : 'openssl';
}

interface Child {
  process: ChildProcess;
  output: string;
  /** Connections (progress characters) seen in the measured window. */
  counted: number;
  resumed: number;
  exited: Promise<number | null>;
}

/** Runs the job and reports it in the load generator's terms (no latencies). */
export async function runSTime(job: STimeJob): Promise<LoadResult> {
  mkdirSync(job.dir, { recursive: true });
  const certFile = join(job.dir, 'stime-client.crt');
  const keyFile = join(job.dir, 'stime-client.key');
  writeFileSync(certFile, job.identity.certPem, { mode: 0o600 });
  writeFileSync(keyFile, job.identity.keyPem, { mode: 0o600 });
  // s_time counts whole seconds of the clock (it may stop up to a second early): more than the window.
  const seconds = Math.ceil((job.warmupMs + job.durationMs) / 1000) + 3;
  const args = ['s_time', '-connect', `127.0.0.1:${job.port}`, '-cert', certFile, '-key', keyFile, '-CAfile', job.caFile, '-verify', '2'];
  args.push(job.resume ? '-reuse' : '-new', '-time', String(seconds), '-www', job.path);
  let measuring = false;
  const children: Child[] = [];
  try {
    for (let i = 0; i < job.processes; i++) {
      // Each waits for a line on its input before it becomes s_time (same pid): spawning from a large
      // Node process takes a while, and their timers must start together, after the last spawn.
      const p = track(spawn('sh', ['-c', 'read go && exec openssl "$@"', 'sh', ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
      const child: Child = { process: p, output: '', counted: 0, resumed: 0, exited: new Promise((r) => p.once('exit', (code) => r(code))) };
      p.stdout?.on('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        child.output = (child.output + text).slice(-2000);
        // Progress characters, flushed one per connection: 'r' resumed; '*' new (or 't'/'3' for TLS 1.0/SSL 3).
        // Chunks of anything else are the banner and the summary, printed outside the window.
        if (!measuring || !/^[*rt3]+$/.test(text)) return;
        child.counted += text.length;
        for (const ch of text) if (ch === 'r') child.resumed++;
      });
      p.stderr?.on('data', (chunk: Buffer) => (child.output = (child.output + chunk.toString('latin1')).slice(-2000)));
      children.push(child);
    }
    for (const c of children) c.process.stdin?.end('go\n');
    await sleep(job.warmupMs);
    const pids = children.map((c) => c.process.pid as number);
    const cpu0 = { gen: sum(pids.map(processCpuMs)), server: treeCpuMs(job.serverPid), machine: machineBusyMs() };
    const t0 = performance.now();
    measuring = true;
    await sleep(job.durationMs);
    measuring = false;
    const wallMs = performance.now() - t0;
    const cpu1 = { gen: sum(pids.map(processCpuMs)), server: treeCpuMs(job.serverPid), machine: machineBusyMs() };
    // One that ended inside the window took its connections and CPU time out of the figures.
    const early = children.filter((c) => c.process.exitCode !== null || c.process.signalCode !== null);
    const codes = await Promise.all(children.map((c) => c.exited));
    return summarise(job, children, codes, early, wallMs, {
      generator: (cpu1.gen - cpu0.gen) / wallMs,
      server: (cpu1.server - cpu0.server) / wallMs,
      machine: (cpu1.machine - cpu0.machine) / wallMs,
    });
  } finally {
    await Promise.all(children.map((c) => stopChild(c.process, 'SIGKILL', 0)));
  }
}

function summarise(
  job: STimeJob,
  children: Child[],
  codes: Array<number | null>,
  early: Child[],
  wallMs: number,
  cores: { generator: number; server: number; machine: number },
): LoadResult {
  const completed = sum(children.map((c) => c.counted));
  const resumed = sum(children.map((c) => c.resumed));
  const errorSamples: string[] =
    early.length > 0
      ? [`${early.length} s_time processes ended before the measured window did (${early[0]!.output.replace(/[*r]{20,}/g, '…').slice(-300)})`]
      : [];
  let errors = early.length;
  let mismatches = 0;
  children.forEach((c, i) => {
    // "<n> connections in <s> real seconds, <b> bytes read per connection"
    const m = /(\d+) connections in \d+ real seconds, (\d+) bytes read per connection/.exec(c.output);
    if (codes[i] !== 0 || !m) {
      errors++;
      errorSamples.push(`s_time exited ${codes[i]}: ${c.output.replace(/[*r]{20,}/g, '…').slice(-300)}`);
    } else if (Number(m[2]) < job.minBytesPerConnection) {
      mismatches++;
      errorSamples.push(`s_time read ${m[2]} bytes per connection, expected at least ${job.minBytesPerConnection}`);
    }
  });
  return {
    completed,
    perSecond: (completed * 1000) / wallMs,
    errors,
    mismatches,
    errorSamples: errorSamples.slice(0, 5),
    reconnects: 0,
    resumedShare: job.resume && completed > 0 ? resumed / completed : null,
    queued: 0,
    p50Ms: null,
    p99Ms: null,
    p999Ms: null,
    generatorCores: cores.generator,
    generatorShare: cores.generator / CORES,
    serverCores: cores.server,
    otherCores: Math.max(0, cores.machine - cores.server - cores.generator),
    generatorStallMs: 0,
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
