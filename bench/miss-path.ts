/**
 * The bundle read path of scenario (e) in one process, without TLS or HTTP:
 * the BundleService over the read cache over the fs keystore, as the server
 * composes them, read at random over 100 000 bundles. Measures what a read costs
 * (each read timed on its own, so a garbage-collection pause shows as a slow
 * read) and the collector's pauses, with the cache holding every bundle or a tenth.
 *
 *   npx tsx bench/miss-path.ts [--bundles 100000] [--reads 50000] [--cache full|tenth] [--root DIR]
 *
 * --root keeps the generated keystore there between runs (it is filled on first use).
 * The reply is what the get route answers (src/api/tls/bundles.ts: the service's encoded read).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { FSKeyStore } from '../keystores/fs.js';
import { CachedKeyStore } from '../keystores/cache.js';
import { BundleService } from '../src/core/bundles/service.js';
import { secretBody } from '../src/api/tls/bundles.js';
import { noGroupAccess } from '../src/core/access.js';
import { createBenchPKI } from './pki.js';
import { bundleName, fillLarge, importThroughService, type LargeStore } from './scenarios/fs-dataset.js';
import { Histogram } from './histogram.js';

const SEEDS = 100;

const { values } = parseArgs({
  options: {
    bundles: { type: 'string', default: '100000' },
    reads: { type: 'string', default: '50000' },
    cache: { type: 'string', default: 'full' },
    root: { type: 'string' },
  },
});
const bundles = Number(values.bundles);
const reads = Number(values.reads);

async function dataset(): Promise<{ root: string; store: LargeStore }> {
  const base = values.root ?? mkdtempSync(join(tmpdir(), 'keygate-miss-path-'));
  const root = join(base, `fs-${bundles}`);
  const marker = join(base, `fs-${bundles}.json`);
  if (existsSync(marker)) return { root, store: JSON.parse((await import('node:fs')).readFileSync(marker, 'utf8')) as LargeStore };
  const seeds = join(base, 'seeds');
  if (!existsSync(seeds)) await importThroughService(seeds, createBenchPKI(base, 0), SEEDS);
  const store = await fillLarge(root, seeds, SEEDS, bundles);
  writeFileSync(marker, JSON.stringify(store));
  return { root, store };
}

async function main(): Promise<void> {
  const { root, store: info } = await dataset();
  const maxBytes = values.cache === 'tenth' ? Math.floor(info.cacheBytes / 10) : Math.ceil(info.cacheBytes * 1.02) + (1 << 20);
  const fs = new FSKeyStore(root);
  const cache = new CachedKeyStore(fs, { anyMs: 3_600_000, unusedMs: 3_600_000, offlineMs: 0, maxBytes, sweepIntervalMs: 0 });
  const service = new BundleService(cache, noGroupAccess);
  const read = async (name: string): Promise<Buffer> => service.peekEncoded(name, secretBody) ?? (await service.getEncoded(name, secretBody));
  const warm = values.cache === 'tenth' ? Math.floor(bundles / 10) : bundles;
  let t = performance.now();
  for (let i = 0; i < warm; i++) await read(bundleName(i));
  const warmS = (performance.now() - t) / 1000;

  const gc = { count: 0, major: 0, totalMs: 0, maxMs: 0, over5: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      // detail.kind: 1 scavenge, 2 minor mark-compact, 4 mark-compact, 8 incremental marking step, 16 weak callbacks.
      if (((e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0) & 4) gc.major++;
      gc.totalMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
      if (e.duration > 5) gc.over5++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const h = new Histogram();
  const cpu0 = process.cpuUsage();
  const before = cache.snapshot();
  t = performance.now();
  let bytes = 0;
  for (let i = 0; i < reads; i++) {
    const name = bundleName(Math.floor(Math.random() * bundles));
    const s = performance.now();
    bytes += (await read(name)).length;
    h.record((performance.now() - s) * 1000);
    // A hit never leaves the microtask queue: yield now and then so the GC observer is told.
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  const wallMs = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 50)); // let the observer deliver the last entries
  obs.disconnect();
  const after = cache.snapshot();
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;
  const us = (ms: number | null) => (ms === null ? '–' : `${(ms * 1000).toFixed(0)} µs`);
  process.stdout.write(
    `${bundles} bundles, cache ${values.cache} (${(maxBytes / 2 ** 20).toFixed(0)} MiB, filled in ${warmS.toFixed(1)} s), ${reads} random reads: ` +
      `hit ratio ${(hits / (hits + misses)).toFixed(3)}, CPU per read ${us((cpu.user + cpu.system) / 1000 / reads)}, wall per read ${us(wallMs / reads)}; ` +
      `read p50 ${us(h.percentileMs(50))}, p99 ${us(h.percentileMs(99))}, p99.9 ${us(h.percentileMs(99.9))}, max ${us(h.percentileMs(100))}; ` +
      `GC ${gc.count} pauses (${gc.major} mark-compact), ${gc.totalMs.toFixed(0)} ms in all (${((gc.totalMs / wallMs) * 100).toFixed(1)} % of the time), max ${gc.maxMs.toFixed(1)} ms, ${gc.over5} over 5 ms; ` +
      `heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (${bytes} bytes answered)\n`,
  );
  await cache.close();
}

await main();
