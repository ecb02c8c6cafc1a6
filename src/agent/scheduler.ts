/**
 * When the agent does things: refresh delays from a bundle's TTL (with jitter so a
 * fleet does not stampede), exponential backoff with jitter after failures, and a
 * single re-armable wake-up timer. Time and randomness are injected, so tests run
 * on a clock they move by hand.
 */

/** The agent's view of time; tests pass a manual clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A uniform random number in [0, 1). */
export type Random = () => number;

/** Shortest delay the agent ever waits before refreshing a bundle again. */
export const MIN_REFRESH_MS = 1000;

/**
 * Milliseconds until a bundle fetched now should be fetched again: when its TTL runs
 * out, minus up to `jitter` of the TTL, so the refresh always lands within the TTL,
 * in [ttl·(1−jitter), ttl], and a fleet spreads over that window.
 */
export function refreshDelay(ttlSeconds: number, jitter: number, random: Random): number {
  const ttlMs = ttlSeconds * 1000;
  return Math.max(MIN_REFRESH_MS, Math.round(ttlMs * (1 - jitter * random())));
}

/**
 * Backoff before retry number `attempt` (1 for the first retry): the ceiling doubles
 * from `minMs` up to `maxMs`, and the delay is drawn from [ceiling/2, ceiling]
 * ("equal jitter"), so it grows yet never syncs a fleet's retries.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: Random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 52);
  const ceiling = Math.min(maxMs, minMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Counts consecutive failures of one thing (a bundle, the server) and says how long to wait next. */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: Random,
  ) {}

  /** Records a failure; returns the delay before the next attempt. */
  fail(): number {
    this.failures++;
    return backoffDelay(this.failures, this.minMs, this.maxMs, this.random);
  }

  succeed(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

/**
 * One pending wake-up at a time: `at(t)` moves it earlier (never later), `clear()`
 * drops it. The callback runs once per arming; re-arm it from the callback.
 */
export class WakeTimer {
  private handle: unknown = undefined;
  private due = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  /** Wakes at time `t` (clock milliseconds) unless an earlier wake-up is already set. */
  at(t: number): void {
    if (t >= this.due) return;
    this.clear();
    this.due = t;
    this.handle = this.clock.setTimeout(
      () => {
        this.handle = undefined;
        this.due = Infinity;
        this.fire();
      },
      // setTimeout overflows past ~24.8 days; the agent re-arms when woken early.
      Math.min(MAX_TIMER_MS, Math.max(0, t - this.clock.now())),
    );
  }

  /** When the pending wake-up fires (Infinity when none). */
  get next(): number {
    return this.due;
  }

  clear(): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.due = Infinity;
  }
}
