/**
 * (e) 100 000 bundles in the filesystem keystore against 100: start-up time,
 * read latency at a fixed rate over random bundles, listing every page, and
 * resident memory. keygate only.
 */
import https from 'node:https';
import { join } from 'node:path';
import type { BenchContext, ScenarioOutput, Scenario } from '../context.js';
import { call, callOK } from '../client.js';
import { memoryMiB } from '../procs.js';
import type { Server } from '../servers.js';
import { keygate, load } from './common.js';
import { bundleName, fillLarge, importThroughService, removeStore } from './fs-dataset.js';

const SMALL = 100;
const LARGE = 100_000;
/** Reads per second in both cases: well below the maximum, so the comparison is about the keystore's size, not overload. */
const READ_RATE = 1000;
/** Listing is bounded: past this the figure is reported as a lower bound. */
const LIST_LIMIT_MS = 120_000;

interface SizeResult {
  startupS: number;
  p50Ms: number | null;
  p99Ms: number | null;
  listS: number | null;
  rssMiB: number;
}

export const fsScale: Scenario = {
  id: 'e',
  title: '100 000 bundles in the filesystem keystore (against 100)',
  async run(ctx, out) {
    const smallRoot = join(ctx.settings.tmp, 'e-fs-100');
    const largeRoot = join(ctx.settings.tmp, 'e-fs-100k');
    let t = performance.now();
    await importThroughService(smallRoot, ctx.pki, SMALL);
    const importS = (performance.now() - t) / 1000;
    t = performance.now();
    const files = await fillLarge(largeRoot, smallRoot, SMALL, LARGE);
    const fillS = (performance.now() - t) / 1000;
    ctx.log(`  e: imported ${SMALL} bundles through the service in ${importS.toFixed(1)} s; wrote ${files} files for ${LARGE} bundles in ${fillS.toFixed(1)} s`);
    out.note(
      `Set-up: ${SMALL} bundles imported through the BundleService over the fs adapter (${importS.toFixed(1)} s); the ${LARGE}-bundle store is those plus ` +
        `${LARGE - SMALL} records of the same format written straight into the adapter's layout, each with its own SAN index entry ` +
        `(${files} files, ${fillS.toFixed(1)} s); see fs-dataset.ts.`,
    );
    let small: SizeResult;
    let large: SizeResult;
    try {
      small = await measureSize(ctx, out, 'e-100', smallRoot, SMALL);
      large = await measureSize(ctx, out, 'e-100k', largeRoot, LARGE);
    } finally {
      await ctx.stopAll();
      t = performance.now();
      await Promise.all([removeStore(smallRoot), removeStore(largeRoot)]);
      ctx.log(`  e: removed the keystores in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    out.note(
      `Start-up = spawning \`keygate server\` until the first bundle read answered. Reads: ${READ_RATE}/s open loop over the 1000 keep-alive connections, ` +
        `each read a uniformly random bundle of the store; the read cache is the default 64 MiB, so with ${LARGE} bundles most reads miss it and go to disk ` +
        '(the page cache holds the files). Listing: `GET /v1/cert/list/` as the admin, following `continue_at` to the last page. RSS after reads and listing.',
    );
    const fig = (key: string, title: string, unit: string, v: number | null, higherIsBetter = false) =>
      out.figure({ key, title, unit, keygate: v, node: null, nginx: null, higherIsBetter });
    fig('e_fs_startup_100', 'start-up, 100 bundles', 's', small.startupS);
    fig('e_fs_startup_100k', 'start-up, 100 000 bundles', 's', large.startupS);
    fig('e_fs_read_p50_100', `read p50 at ${READ_RATE}/s, 100 bundles`, 'ms', small.p50Ms);
    fig('e_fs_read_p50_100k', `read p50 at ${READ_RATE}/s, 100 000 bundles`, 'ms', large.p50Ms);
    fig('e_fs_read_p99_100', `read p99 at ${READ_RATE}/s, 100 bundles`, 'ms', small.p99Ms);
    fig('e_fs_read_p99_100k', `read p99 at ${READ_RATE}/s, 100 000 bundles`, 'ms', large.p99Ms);
    fig('e_fs_list_all_100', 'list all pages, 100 bundles', 's', small.listS);
    fig('e_fs_list_all_100k', 'list all pages, 100 000 bundles', 's', large.listS);
    fig('e_fs_rss_100', 'resident memory, 100 bundles', 'MiB', small.rssMiB);
    fig('e_fs_rss_100k', 'resident memory, 100 000 bundles', 'MiB', large.rssMiB);
  },
};

async function measureSize(ctx: BenchContext, out: ScenarioOutput, name: string, root: string, count: number): Promise<SizeResult> {
  const kg = await keygate(ctx, `${name}-keygate`, { keystore: { fs: { path: root } } });
  const first = performance.now();
  await callOK(kg.port, ctx.pki.caPem, ctx.pki.clients[0]!, `/v1/cert/get/${bundleName(0)}`);
  const startupS = (kg.startMs + performance.now() - first) / 1000;
  const rssStart = memoryMiB(kg.pid).rss;
  const label = `e reads at ${READ_RATE}/s, ${count} bundles / keygate`;
  const r = await load(ctx, label, kg, { method: 'GET', path: '/v1/cert/get/host-{i}.bench.example', pathCount: count, expectStatus: 200 }, { kind: 'rate', perSecond: READ_RATE });
  const hitRatio = await cacheHitRatio(ctx, kg);
  const list = await listAll(ctx, kg);
  if (list.names !== count) out.note(`${name}: the listing returned ${list.names} names in ${list.pages} pages, expected ${count}${list.complete ? '' : ' (stopped at the time limit)'}.`);
  const mem = memoryMiB(kg.pid);
  out.measure({ label, load: r, values: { 'cache hit ratio': hitRatio } });
  out.measure({
    label: `e ${count} bundles / keygate: start-up, listing, memory`,
    values: { 'start-up s': startupS, 'list s': list.seconds, pages: list.pages, 'RSS after start MiB': rssStart, 'RSS MiB': mem.rss, 'peak RSS MiB': mem.peak },
  });
  ctx.log(`  ${name}: start-up ${startupS.toFixed(2)} s, list ${list.seconds.toFixed(2)} s (${list.pages} pages), RSS ${mem.rss.toFixed(0)} MiB (peak ${mem.peak.toFixed(0)})`);
  await ctx.stop(kg);
  return { startupS, p50Ms: r.p50Ms, p99Ms: r.p99Ms, listS: list.complete ? list.seconds : null, rssMiB: mem.rss };
}

async function listAll(ctx: BenchContext, kg: Server): Promise<{ seconds: number; pages: number; names: number; complete: boolean }> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const started = performance.now();
  let cursor = '';
  let pages = 0;
  let names = 0;
  try {
    do {
      const path = '/v1/cert/list/' + (cursor ? `?continue_at=${encodeURIComponent(cursor)}` : '');
      const page = (await callOK(kg.port, ctx.pki.caPem, ctx.pki.admin, path, { agent, timeoutMs: LIST_LIMIT_MS })).json() as { names: string[]; continue_at?: string };
      pages++;
      names += page.names.length;
      cursor = page.continue_at ?? '';
    } while (cursor !== '' && performance.now() - started < LIST_LIMIT_MS);
  } finally {
    agent.destroy();
  }
  return { seconds: (performance.now() - started) / 1000, pages, names, complete: cursor === '' };
}

async function cacheHitRatio(ctx: BenchContext, kg: Server): Promise<number | null> {
  const r = await call(kg.port, ctx.pki.caPem, ctx.pki.admin, '/v1/metrics/keygate');
  const m = /^keygate_cache_hit_ratio (\S+)$/m.exec(r.body.toString('utf8'));
  return m ? Number(m[1]) : null;
}
