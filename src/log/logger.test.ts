/** The audit and error logs: the hand-built audit line, batching, ordering on a shared stream. */
import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { Logger, jsonString, millis } from './logger.js';

/** A stream that records each write it is given. */
function recorder() {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      writes.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, writes, lines: () => writes.join('').split('\n').filter(Boolean) };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('jsonString', () => {
  it('is JSON.stringify of every string, short or long, plain or not', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: 'grapheme', maxLength: 40 }),
          fc.string({ unit: fc.constantFrom('a', '"', '\\', '\u007f', ' ', '~', '\u0000'), maxLength: 30 }),
        ),
        (s) => {
          expect(jsonString(s)).toBe(JSON.stringify(s));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('millis', () => {
  it('writes what String(Math.round(ms * 1000) / 1000) writes, for every latency', () => {
    const exact = (ms: number) => String(Math.round(ms * 1000) / 1000);
    for (const ms of [0, 0.0004, 0.0005, 0.001, 0.01, 0.05, 0.1, 0.123456, 1, 1.5, 1.25, 1.205, 10.01, 999.9995, 1e6 + 0.007, 1e15, 1e20])
      expect(millis(ms), String(ms)).toBe(exact(ms));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ min: 0, max: 1e7, noNaN: true }),
          fc.integer({ min: 0, max: 10_000_000 }).map((us) => us / 1000),
        ),
        (ms) => {
          expect(millis(ms)).toBe(exact(ms));
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

describe('audit lines', () => {
  it('are one JSON object per line with every field, whatever characters the path and identity hold', async () => {
    const out = recorder();
    const log = new Logger({ audit: out.stream, error: null, level: 'info' });
    const odd = 'a"b\\c\nd\u2028e\u0000f/ü/😀';
    log.audit({ ip: '::ffff:127.0.0.1', identity: odd, method: 'GET', path: `/v1/cert/get/${odd}`, status: 403, latencyMs: 1.23456789 });
    await turn();
    const [line] = out.lines();
    const event = JSON.parse(line as string);
    expect(event).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      ip: '::ffff:127.0.0.1',
      identity: odd,
      method: 'GET',
      path: `/v1/cert/get/${odd}`,
      status: 403,
      latency_ms: 1.235,
    });
    expect(Math.abs(Date.parse(event.time) - Date.now())).toBeLessThan(5000);
  });

  it('of one event-loop turn reach the stream in one write, after the turn', async () => {
    const out = recorder();
    const log = new Logger({ audit: out.stream, error: null, level: 'info' });
    for (let i = 0; i < 50; i++) log.audit({ ip: '', identity: '', method: 'GET', path: `/p/${i}`, status: 200, latencyMs: 0 });
    expect(out.writes).toEqual([]);
    await turn();
    expect(out.writes).toHaveLength(1);
    expect(out.lines().map((l) => JSON.parse(l).path)).toEqual(Array.from({ length: 50 }, (_, i) => `/p/${i}`));
  });

  it('live subscribers get each line at once', () => {
    const log = new Logger({ audit: null, error: null, level: 'info' });
    const seen: string[] = [];
    log.onAudit((l) => seen.push(l));
    log.audit({ ip: '', identity: '', method: 'PUT', path: '/x', status: 200, latencyMs: 0 });
    expect(JSON.parse(seen[0] as string)).toMatchObject({ method: 'PUT', path: '/x' });
  });
});

describe('error lines', () => {
  it('are written at once and after pending audit lines when both logs share a stream', () => {
    const out = recorder();
    const log = new Logger({ audit: out.stream, error: out.stream, level: 'info' });
    log.audit({ ip: '', identity: '', method: 'GET', path: '/first', status: 500, latencyMs: 0 });
    log.error('then this');
    expect(out.lines().map((l) => JSON.parse(l).path ?? JSON.parse(l).message)).toEqual(['/first', 'then this']);
  });

  it('below the level are dropped', () => {
    const out = recorder();
    const log = new Logger({ audit: null, error: out.stream, level: 'warn' });
    log.info('quiet');
    log.log('warn', 'loud', { n: 1 });
    expect(out.lines().map((l) => JSON.parse(l))).toEqual([{ time: expect.any(String), level: 'warn', message: 'loud', n: 1 }]);
  });

  it('close() writes what is pending before ending a file stream', async () => {
    const out = recorder();
    const log = new Logger({ audit: out.stream, error: null, level: 'info' });
    log.audit({ ip: '', identity: '', method: 'GET', path: '/last', status: 200, latencyMs: 0 });
    await log.close();
    expect(out.lines().map((l) => JSON.parse(l).path)).toEqual(['/last']);
  });
});

describe('log files', () => {
  it('are created 0600 and appended to, and hold every line once the logger is closed', async () => {
    const { mkdtempSync, readFileSync, statSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { openLogFile } = await import('./logger.js');
    const dir = mkdtempSync(join(tmpdir(), 'keygate-log-'));
    const file = join(dir, 'audit.log');
    writeFileSync(file, '{"earlier":true}\n', { mode: 0o600 });
    const log = new Logger({ audit: openLogFile(file), error: null, level: 'info' });
    for (let i = 0; i < 1000; i++) log.audit({ ip: '', identity: '', method: 'GET', path: `/p/${i}`, status: 200, latencyMs: 0 });
    await log.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1001);
    expect(JSON.parse(lines[0] as string)).toEqual({ earlier: true });
    expect(JSON.parse(lines[1000] as string).path).toBe('/p/999');
    const fresh = join(dir, 'error.log');
    await new Logger({ audit: null, error: openLogFile(fresh), level: 'info' }).close();
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
  });
  it('get their lines without being closed, a burst in one write, and what is pending on a crash', async () => {
    const { mkdtempSync, readFileSync, existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { openLogFile } = await import('./logger.js');
    const { spawnTracked } = await import('../../test/helpers/processes.js');
    const dir = mkdtempSync(join(tmpdir(), 'keygate-log-'));
    const file = join(dir, 'audit.log');
    const log = new Logger({ audit: openLogFile(file), error: null, level: 'info' });
    // Several event-loop turns of lines: each turn hands the file one chunk; the file takes them all.
    for (let turnNo = 0; turnNo < 5; turnNo++) {
      for (let i = 0; i < 10; i++) log.audit({ ip: '', identity: '', method: 'GET', path: `/t/${turnNo}/${i}`, status: 200, latencyMs: 0 });
      await turn();
    }
    const paths = () =>
      (existsSync(file) ? readFileSync(file, 'utf8') : '')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).path as string);
    while (paths().length < 50) await new Promise((r) => setTimeout(r, 5)); // waits for the file, however slow the disk
    expect(paths()).toEqual(Array.from({ length: 50 }, (_, i) => `/t/${Math.floor(i / 10)}/${i % 10}`));
    await log.close();
    // A process that exits without closing its logger (a crash) still leaves its last lines.
    const crashed = join(dir, 'crash.log');
    const script =
      `import { Logger, openLogFile } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).pathname)};` +
      `const log = new Logger({ audit: openLogFile(${JSON.stringify(crashed)}), error: null, level: 'info' });` +
      `log.audit({ ip: '', identity: '', method: 'GET', path: '/last-words', status: 500, latencyMs: 0 });` +
      `setImmediate(() => process.exit(3));`;
    const child = spawnTracked(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    expect((await child.exited).code).toBe(3);
    expect(readFileSync(crashed, 'utf8')).toContain('"path":"/last-words"');
  });
});
