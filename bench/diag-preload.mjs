/**
 * Loaded with `node --import` into a server under test when the bench runs with
 * --diagnose (scenario d): records the process's event-loop delay
 * (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and every garbage-collection
 * pause (PerformanceObserver 'gc' entries), and writes a JSON summary to
 * $KEYGATE_BENCH_DIAG when the process exits. SIGUSR2 starts a new window (the
 * scenario sends it before each measured run). Plain JavaScript: keygate itself
 * runs on plain node.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import process from 'node:process';
import { writeFileSync } from 'node:fs';

const file = process.env.KEYGATE_BENCH_DIAG;
if (file) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let gc = [];
  let since = performance.now();
  const windows = [];
  const summary = () => {
    const sorted = gc.map((e) => e.ms).sort((a, b) => a - b);
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    return {
      seconds: Math.round(performance.now() - since) / 1000,
      loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), p999: ms(loop.percentile(99.9)), max: ms(loop.max) },
      gc: {
        pauses: sorted.length,
        totalMs: Math.round(sorted.reduce((a, b) => a + b, 0) * 100) / 100,
        maxMs: Math.round((sorted.at(-1) ?? 0) * 100) / 100,
        over5ms: sorted.filter((x) => x > 5).length,
        over20ms: sorted.filter((x) => x > 20).length,
        byKind: gc.reduce((acc, e) => ((acc[e.kind] = (acc[e.kind] ?? 0) + 1), acc), {}),
      },
      memory: { rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20), heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) },
    };
  };
  const KINDS = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-callbacks' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push({ ms: e.duration, kind: KINDS[e.detail?.kind] ?? String(e.detail?.kind) });
  }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    windows.push(summary());
    loop.reset();
    gc = [];
    since = performance.now();
  });
  process.on('exit', () => {
    windows.push(summary());
    try {
      writeFileSync(file, JSON.stringify(windows) + '\n');
    } catch {
      // the bench reports the file as missing
    }
  });
}
