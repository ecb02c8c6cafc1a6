/**
 * Soak test: keygate (the real server process, fs keystore) under mixed load at
 * half its maximum rate for N minutes. Passes when resident memory grows less
 * than 10%, no request fails, and the open file descriptors stay flat.
 *
 *   npx tsx bench/soak.ts --minutes 10        (make bench runs it; not part of CI)
 *
 * 1. Calibrate: a closed loop at full concurrency for `--calibrate` seconds gives
 *    the maximum rate of this machine (client and server share it).
 * 2. Soak: an open loop sends half that rate, every request of the mix on a
 *    keep-alive connection: data keys (generate, decrypt), bundle reads by a
 *    node token, key create + delete, group assign/unassign, key listing.
 * 3. RSS and fds of the server process are sampled every 5 s; the baseline is
 *    the median of the first samples after a one-minute warm-up (or 20% of the
 *    run, if shorter), the end the median of the last ones.
 *
 * Prints the figures as JSON and exits 1 if a threshold is broken.
 */
import https from 'node:https';
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { BundleCerts } from '../test/helpers/bundle-certs.js';
import { serverProcess, type ServerProcess } from '../test/hardening/server-process.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), process.argv[i + 1] ?? '');
const MINUTES = Number(args.get('minutes') ?? '10');
const CALIBRATE_S = Number(args.get('calibrate') ?? '15');
const CONCURRENCY = 32;
const SAMPLE_MS = 5000;

interface Fixture {
  p: ServerProcess;
  agent: https.Agent;
  nodeToken: string;
  ciphertext: string;
}

/** One request as the admin, or with a bearer token; resolves with the status and the body. */
function send(f: Fixture, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, f.p.url),
      {
        method,
        agent: f.agent,
        ca: f.p.pki.ca.certPem,
        ...(token ? { headers: { Authorization: `Bearer ${token}` } } : { cert: f.p.admin.certPem, key: f.p.admin.keyPem }),
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function call(f: Fixture, method: string, path: string, body?: unknown, token?: string): Promise<number> {
  return (await send(f, method, path, body, token)).status;
}

let seq = 0;
/** One request of the mix; resolves true when it succeeded. */
async function mixed(f: Fixture): Promise<boolean> {
  const n = ++seq;
  const dice = n % 20;
  const ok = (s: number) => s === 200;
  if (dice < 10) return ok(await call(f, 'PUT', '/v1/key/generate/soak', {}));
  if (dice < 13) return ok(await call(f, 'PUT', '/v1/key/decrypt/soak', { ciphertext: f.ciphertext }));
  if (dice < 16) return ok(await call(f, 'GET', '/v1/cert/get/soak.example.com', undefined, f.nodeToken));
  if (dice === 16) return ok(await call(f, 'PUT', `/v1/key/create/tmp-${n}`)) && ok(await call(f, 'DELETE', `/v1/key/delete/tmp-${n}`));
  if (dice === 17) return ok(await call(f, 'PUT', '/v1/group/assign/soak/soak.example.com'));
  if (dice === 18) return ok(await call(f, 'DELETE', '/v1/group/unassign/soak/other.example.com'));
  return ok(await call(f, 'GET', '/v1/key/list/*'));
}

async function setup(): Promise<Fixture> {
  const p = await serverProcess();
  await p.start();
  const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const f: Fixture = { p, agent, nodeToken: '', ciphertext: '' };
  const certs = new BundleCerts();
  const must = async (r: Promise<number>) => {
    if ((await r) !== 200) throw new Error('soak: setup request failed');
  };
  await must(call(f, 'PUT', '/v1/key/create/soak'));
  for (const name of ['soak.example.com', 'other.example.com']) {
    const b = certs.bundle({ dnsNames: [name] });
    await must(call(f, 'PUT', `/v1/cert/import/${name}`, { certificate: b.chainPem, private_key: b.keyPem, ttl: 3600 }));
  }
  const group = await jsonOf(f, 'PUT', '/v1/group/create/soak', { token_ttl: 86400 });
  await must(call(f, 'PUT', '/v1/group/assign/soak/soak.example.com'));
  f.nodeToken = (await jsonOf(f, 'PUT', '/v1/node/register/soak', { node_id: 'soak-1' }, group['group_token'] as string))['node_token'] as string;
  f.ciphertext = (await jsonOf(f, 'PUT', '/v1/key/generate/soak', {}))['ciphertext'] as string;
  return f;
}

async function jsonOf(f: Fixture, method: string, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const { status, text } = await send(f, method, path, body, token);
  if (status !== 200) throw new Error(`soak: ${path}: ${status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Closed loop at full concurrency: the maximum rate (requests per second). */
async function calibrate(f: Fixture, seconds: number): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await mixed(f).catch(() => false);
        done++;
      }
    }),
  );
  return done / seconds;
}

function residentBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}
const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function soak(f: Fixture, rate: number, minutes: number) {
  const pid = f.p.child?.pid as number;
  const stats = { sent: 0, ok: 0, failed: 0, latencies: [] as number[], skipped: 0 };
  const samples: Array<{ at: number; rss: number; fds: number }> = [];
  const start = performance.now();
  const end = start + minutes * 60_000;
  let inFlight = 0;
  const sampler = setInterval(() => samples.push({ at: performance.now() - start, rss: residentBytes(pid), fds: openFds(pid) }), SAMPLE_MS);
  // Open loop: requests go out on schedule whether or not earlier ones have answered (up to a cap).
  const tickMs = 10;
  let due = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() < end) {
    // What the schedule asks for by now (timers fire late, so count from the clock, not the ticks).
    const owed = Math.floor(((performance.now() - start) * rate) / 1000) - due;
    due += Math.max(0, owed);
    for (let k = 0; k < owed; k++) {
      if (inFlight >= CONCURRENCY * 8) {
        stats.skipped++;
        continue;
      }
      inFlight++;
      stats.sent++;
      const t0 = performance.now();
      const work = mixed(f)
        .then(
          (good) => void (good ? stats.ok++ : stats.failed++),
          () => void stats.failed++,
        )
        .finally(() => {
          inFlight--;
          stats.latencies.push(performance.now() - t0);
          pending.delete(work);
        });
      pending.add(work);
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(pending);
  clearInterval(sampler);
  return { stats, samples, seconds: (performance.now() - start) / 1000 };
}

async function main(): Promise<void> {
  const f = await setup();
  try {
    const max = await calibrate(f, CALIBRATE_S);
    const rate = Math.max(1, Math.floor(max / 2));
    process.stderr.write(`soak: max ${max.toFixed(0)} req/s, soaking at ${rate} req/s for ${MINUTES} min\n`);
    const { stats, samples, seconds } = await soak(f, rate, MINUTES);
    const warm = Math.min(60_000, MINUTES * 60_000 * 0.2);
    const after = samples.filter((s) => s.at >= warm);
    const head = after.slice(0, 3);
    const tail = after.slice(-3);
    const rssStart = median(head.map((s) => s.rss));
    const rssEnd = median(tail.map((s) => s.rss));
    const lat = [...stats.latencies].sort((a, b) => a - b);
    const figures = {
      minutes: MINUTES,
      maxRate: Math.round(max),
      targetRate: rate,
      achievedRate: Math.round(stats.sent / seconds),
      requests: stats.sent,
      errors: stats.failed,
      skippedOverCap: stats.skipped,
      latencyP50ms: Number((lat[Math.floor(lat.length * 0.5)] ?? 0).toFixed(2)),
      latencyP99ms: Number((lat[Math.floor(lat.length * 0.99)] ?? 0).toFixed(2)),
      rssStartMiB: Number((rssStart / 2 ** 20).toFixed(1)),
      rssEndMiB: Number((rssEnd / 2 ** 20).toFixed(1)),
      rssPeakMiB: Number((Math.max(...samples.map((s) => s.rss)) / 2 ** 20).toFixed(1)),
      rssGrowthPercent: Number((((rssEnd - rssStart) / rssStart) * 100).toFixed(2)),
      fdsStart: median(head.map((s) => s.fds)),
      fdsEnd: median(tail.map((s) => s.fds)),
      fdsMax: Math.max(...samples.map((s) => s.fds)),
    };
    process.stdout.write(JSON.stringify(figures, null, 2) + '\n');
    const broken = [
      figures.rssGrowthPercent >= 10 && `resident memory grew ${figures.rssGrowthPercent}%`,
      figures.errors > 0 && `${figures.errors} requests failed`,
      figures.fdsEnd > figures.fdsStart + CONCURRENCY && `file descriptors grew from ${figures.fdsStart} to ${figures.fdsEnd}`,
    ].filter(Boolean);
    if (broken.length > 0) {
      process.stderr.write(`soak: FAILED: ${broken.join('; ')}\n`);
      process.exitCode = 1;
    } else process.stderr.write('soak: passed\n');
  } finally {
    f.agent.destroy();
    await f.p.kill('SIGTERM');
  }
}

await main();
