import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Backoff, MIN_REFRESH_MS, WakeTimer, backoffDelay, refreshDelay } from './scheduler.js';
import { ManualClock } from '../../test/agent/support.js';

describe('refreshDelay', () => {
  it('refreshes when the TTL runs out, earlier by at most the jitter share', () => {
    expect(refreshDelay(600, 0.1, () => 0)).toBe(600_000);
    expect(refreshDelay(600, 0.1, () => 0.5)).toBe(570_000);
    expect(refreshDelay(600, 0.1, () => 0.999999)).toBeGreaterThanOrEqual(540_000);
    expect(refreshDelay(600, 0, () => 0.7)).toBe(600_000);
  });

  it('always lands in [ttl·(1−jitter), ttl] and never below the floor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 31_536_000 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (ttl, jitter, r) => {
          const d = refreshDelay(ttl, jitter, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.max(MIN_REFRESH_MS, Math.floor(ttl * 1000 * (1 - jitter))));
          expect(d).toBeLessThanOrEqual(Math.max(MIN_REFRESH_MS, ttl * 1000));
        },
      ),
    );
  });

  it('spreads a fleet: different random draws give different delays', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75].map((r) => refreshDelay(3600, 0.2, () => r)));
    expect(delays.size).toBe(4);
  });
});

describe('backoffDelay', () => {
  it('doubles its ceiling from the minimum up to the cap', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => backoffDelay(n, 1000, 60_000, () => 0.9999999999));
    expect(ceilings).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
  });

  it('draws from [ceiling/2, ceiling] (equal jitter) and stays capped for any attempt', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (attempt, min, extra, r) => {
          const max = min + extra;
          const ceiling = Math.min(max, min * 2 ** Math.min(attempt - 1, 52));
          const d = backoffDelay(attempt, min, max, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(d).toBeLessThanOrEqual(Math.ceil(ceiling));
          expect(d).toBeLessThanOrEqual(max);
        },
      ),
    );
  });

  it('grows on average with each failure until the cap', () => {
    const mean = (n: number) => [0, 0.25, 0.5, 0.75].reduce((s, r) => s + backoffDelay(n, 500, 30_000, () => r), 0) / 4;
    for (let n = 1; n < 6; n++) expect(mean(n + 1)).toBeGreaterThan(mean(n));
    expect(mean(20)).toBe(mean(40));
  });
});

describe('Backoff', () => {
  it('counts consecutive failures and starts over after a success', () => {
    const b = new Backoff(100, 10_000, () => 0.9999999999);
    expect([b.fail(), b.fail(), b.fail()]).toEqual([100, 200, 400]);
    expect(b.attempts).toBe(3);
    b.succeed();
    expect(b.attempts).toBe(0);
    expect(b.fail()).toBe(100);
  });
});

describe('WakeTimer', () => {
  it('fires once at the earliest time asked for', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const t = new WakeTimer(clock, () => fired.push(clock.now()));
    const start = clock.now();
    t.at(start + 5000);
    t.at(start + 9000); // later: ignored
    t.at(start + 2000); // earlier: wins
    expect(t.next).toBe(start + 2000);
    clock.advance(10_000);
    expect(fired).toEqual([start + 2000]);
    expect(t.next).toBe(Infinity);
    expect(clock.pending).toBe(0);
  });

  it('can be cleared and re-armed', () => {
    const clock = new ManualClock();
    let n = 0;
    const t = new WakeTimer(clock, () => n++);
    t.at(clock.now() + 100);
    t.clear();
    clock.advance(1000);
    expect(n).toBe(0);
    t.at(clock.now() + 100);
    clock.advance(100);
    expect(n).toBe(1);
  });

  it('never asks the platform for a delay setTimeout cannot hold', () => {
    const asked: number[] = [];
    const clock = { now: () => 0, setTimeout: (_fn: () => void, ms: number) => asked.push(ms), clearTimeout: () => undefined };
    new WakeTimer(clock, () => undefined).at(365 * 86_400_000);
    expect(asked).toEqual([2 ** 31 - 1]);
  });
});
