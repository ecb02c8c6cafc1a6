/**
 * Quick reaction to changes: one long-poll per bundle on disk
 * (`GET /v1/cert/watch/<name>?version=<v>&wait=<s>`), answered by the server when
 * the bundle's version differs from ours or after `wait` seconds. A change (or a
 * refusal) marks the bundle due at once. When the server has no such endpoint
 * (404 "not found" for the route, 405), watching is switched off for good and the
 * agent refreshes at TTL only.
 */
import type { Logger } from '../log/logger.js';
import { ServerError, type AgentClient } from './client.js';
import { Backoff, type Clock, type Random } from './scheduler.js';

/** Seconds the server is asked to hold a watch open. */
export const WATCH_WAIT_SECONDS = 60;

interface WatchDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  retryMinMs: number;
  retryMaxMs: number;
}

export class Watchers {
  private readonly active = new Map<string, { version: string; abort: AbortController }>();
  /** Versions a watch already reported as outdated: not watched again until the agent has a newer one. */
  private readonly reported = new Map<string, string>();
  private unsupported = false;
  private closed = false;

  constructor(
    private readonly client: AgentClient,
    private readonly deps: WatchDeps,
    private readonly onChange: (name: string) => void,
  ) {}

  /** Watches exactly the bundles of `versions` (name → version on disk). */
  sync(versions: ReadonlyMap<string, string>): void {
    if (this.unsupported || this.closed) return;
    for (const [name, w] of this.active) {
      if (versions.get(name) !== w.version) this.stop(name);
    }
    for (const [name, version] of versions) {
      if (this.active.has(name) || this.reported.get(name) === version) continue;
      this.reported.delete(name);
      const abort = new AbortController();
      this.active.set(name, { version, abort });
      void this.loop(name, version, abort.signal);
    }
  }

  stopAll(): void {
    for (const name of [...this.active.keys()]) this.stop(name);
  }

  /**
   * Stops every watch for good: a batch still in flight when the agent stops would
   * otherwise start new ones as it ends, and an open long-poll keeps the process alive.
   */
  close(): void {
    this.closed = true;
    this.stopAll();
  }

  private stop(name: string): void {
    this.active.get(name)?.abort.abort();
    this.active.delete(name);
  }

  private async loop(name: string, version: string, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.deps.retryMinMs, this.deps.retryMaxMs, this.deps.random);
    while (!signal.aborted) {
      try {
        const current = await this.client.watchBundle(name, version, WATCH_WAIT_SECONDS, signal);
        backoff.succeed();
        if (current !== version) return this.changed(name, version);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ServerError && err.unknownRoute) return this.disable();
        if (err instanceof ServerError && (err.status === 403 || err.status === 404)) return this.changed(name, version);
        await sleep(this.deps.clock, backoff.fail(), signal);
      }
    }
  }

  private changed(name: string, version: string): void {
    if (this.active.get(name)?.version === version) this.active.delete(name);
    this.reported.set(name, version);
    this.onChange(name);
  }

  private disable(): void {
    if (this.unsupported) return;
    this.unsupported = true;
    this.stopAll();
    this.deps.logger.info('agent: the server offers no change notifications; refreshing when TTLs run out');
  }
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const handle = clock.setTimeout(done, ms);
    function done() {
      signal.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clock.clearTimeout(handle);
      done();
    }
    signal.addEventListener('abort', abort, { once: true });
  });
}
