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
import { Buffer } from 'node:buffer';
import { openSync, readSync, writeFileSync } from 'node:fs';
import { setInterval } from 'node:timers';

const file = process.env.KEYGATE_BENCH_DIAG;
if (file) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let gc = [];
  let since = performance.now();
  // Stalls of the main thread, split by /proc/thread-self/schedstat into time it ran
  // (busy: JavaScript, GC, native work), time it waited runnable for a core
  // (preempted) and the rest (blocked in the kernel, or asleep).
  const STALL_MS = 8;
  let stalls = [];
  let schedFd = -1;
  try {
    schedFd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    // not Linux: no split
  }
  const schedBuf = Buffer.alloc(128);
  const sched = () => {
    if (schedFd < 0) return [0, 0, 0];
    const n = readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
    const [run, wait, slices] = schedBuf.toString('latin1', 0, n).split(' ');
    return [Number(run) / 1e6, Number(wait) / 1e6, Number(slices)];
  };
  let tick = performance.now();
  let [ran, waited, sliced] = sched();
  setInterval(() => {
    const now = performance.now();
    const [run, wait, slices] = sched();
    if (now - tick >= STALL_MS) stalls.push({ at: tick, ms: now - tick, runMs: run - ran, waitMs: wait - waited, switches: slices - sliced });
    tick = now;
    ran = run;
    waited = wait;
    sliced = slices;
  }, 1).unref();
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
      stalls: (() => {
        const r = (x) => Math.round(x * 10) / 10;
        // GC entries arrive after their pause: matched to the stalls only now.
        for (const st of stalls) st.gcMs = gc.reduce((a, e) => a + Math.max(0, Math.min(st.at + st.ms, e.at + e.ms) - Math.max(st.at, e.at)), 0);
        const sum = (k) => r(stalls.reduce((a, st) => a + st[k], 0));
        return {
          over8ms: stalls.length,
          totalMs: sum('ms'),
          runMs: sum('runMs'),
          gcMs: sum('gcMs'),
          waitMs: sum('waitMs'),
          longest: [...stalls]
            .sort((a, b) => b.ms - a.ms)
            .slice(0, 6)
            .map((st) => `${r(st.ms)}=run ${r(st.runMs)} (gc ${r(st.gcMs)})+wait ${r(st.waitMs)} in ${st.switches} slice(s)`)
            .join(', '),
        };
      })(),
      memory: { rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20), heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) },
    };
  };
  const KINDS = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-callbacks' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push({ at: e.startTime, ms: e.duration, kind: KINDS[e.detail?.kind] ?? String(e.detail?.kind) });
  }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    windows.push(summary());
    loop.reset();
    gc = [];
    stalls = [];
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
