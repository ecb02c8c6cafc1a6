/**
 * Throttles clients that keep failing authentication: after `limit` failures
 * from one address within `windowMs`, that address gets 429 with Retry-After
 * until the window has passed. Successful requests never count, so well-behaved
 * clients are never slowed. Memory is bounded: old windows are swept, and past
 * `maxTracked` addresses the oldest are forgotten.
 */
import { TooManyRequestsError } from '../errors.js';

export { TooManyRequestsError };

interface Window {
  start: number;
  failures: number;
}

export interface ThrottleOptions {
  limit: number;
  windowMs: number;
  maxTracked?: number;
  now?: () => number;
  /** The same throttle in the other workers of a cluster, so an address gets `limit` failures in all, not per worker. */
  peers?: ThrottlePeers;
  /** Which of a server's throttles this is (the KES/keygate surface's, RKS's), when it has peers. */
  scope?: string;
}

/** Failures seen by the other workers' throttles (`server.workers`). */
export interface ThrottlePeers {
  publish(scope: string, address: string): void;
  subscribe(scope: string, record: (address: string) => void): void;
}

export class AuthThrottle {
  private readonly windows = new Map<string, Window>();
  private readonly now: () => number;
  private readonly maxTracked: number;

  constructor(private readonly options: ThrottleOptions) {
    this.now = options.now ?? Date.now;
    this.maxTracked = options.maxTracked ?? 100_000;
    options.peers?.subscribe(options.scope ?? '', (address) => this.record(address));
  }

  /** Throws TooManyRequestsError while `address` is over its limit. */
  check(address: string): void {
    if (this.options.limit <= 0) return;
    const w = this.windows.get(address);
    if (!w) return;
    const elapsed = this.now() - w.start;
    if (elapsed >= this.options.windowMs) {
      this.windows.delete(address);
      return;
    }
    if (w.failures >= this.options.limit) {
      throw new TooManyRequestsError(Math.max(1, Math.ceil((this.options.windowMs - elapsed) / 1000)));
    }
  }

  /** Records one failed authentication from `address`, here and in the peers. */
  fail(address: string): void {
    if (this.options.limit <= 0) return;
    this.record(address);
    this.options.peers?.publish(this.options.scope ?? '', address);
  }

  private record(address: string): void {
    const now = this.now();
    const w = this.windows.get(address);
    if (w && now - w.start < this.options.windowMs) {
      w.failures++;
      return;
    }
    this.windows.delete(address);
    if (this.windows.size >= this.maxTracked) this.sweep(now);
    this.windows.set(address, { start: now, failures: 1 });
  }

  private sweep(now: number): void {
    for (const [address, w] of this.windows) {
      if (now - w.start >= this.options.windowMs) this.windows.delete(address);
    }
    // Still full: forget the oldest (Map order is insertion order).
    for (const address of this.windows.keys()) {
      if (this.windows.size < this.maxTracked) break;
      this.windows.delete(address);
    }
  }
}
