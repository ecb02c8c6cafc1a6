/**
 * The bundles the agent keeps on disk, each with its own schedule: fetched when
 * due, written when changed, removed when the server refuses it, retried with
 * backoff when the server cannot be reached (the files stay). Every outcome is
 * reflected on the status board; files that changed are queued for the reload.
 */
import type { Logger } from '../log/logger.js';
import { forEachLimited } from '../concurrency.js';
import { isValidBundleName } from '../core/bundles/names.js';
import type { AgentSettings } from './config.js';
import { ServerError, UnreachableError, type AgentClient, type FetchedBundle } from './client.js';
import type { NodeAuth } from './auth.js';
import { Backoff, refreshDelay, type Clock, type Random } from './scheduler.js';
import { quoteName, type BundleWriter } from './writer.js';
import type { ReloadQueue } from './reload.js';
import type { StatusBoard } from './status.js';

/** Fetches in flight at once. */
const CONCURRENCY = 4;

/** Distinct refused names logged; a server listing endless garbage cannot grow the agent's memory or log. */
const MAX_REFUSALS_LOGGED = 1000;

interface Tracked {
  name: string;
  due: number;
  backoff: Backoff;
  /** Version on disk, null when none. */
  version: string | null;
}

/** What one fetch gave. */
export type Outcome = { name: string; bundle: FetchedBundle } | { name: string; error: Error };

/** What the agent's fetching and issuing sets share. */
export interface AgentDeps {
  settings: AgentSettings;
  client: AgentClient;
  auth: NodeAuth;
  reloads: ReloadQueue;
  board: StatusBoard;
  logger: Logger;
  clock: Clock;
  random: Random;
}

export interface BundleSetDeps extends AgentDeps {
  writer: BundleWriter;
}

export class BundleSet {
  private readonly tracked = new Map<string, Tracked>();
  /** Refused names already logged: each is logged once, not at every listing. */
  private readonly refusalsLogged = new Set<string>();
  private readonly listBackoff: Backoff;
  /** When `bundles: all` lists again. */
  listAt = 0;

  constructor(private readonly deps: BundleSetDeps) {
    this.listBackoff = this.backoff();
  }

  /**
   * Starts serving `name`. A name that is not a valid bundle name is refused here, before
   * it can reach the server's URL or the disk (configured names were checked at load;
   * this guards every other source). Returns false for a refused name.
   */
  track(name: string, from: 'server' | 'settings' = 'server'): boolean {
    if (!isValidBundleName(name)) {
      this.refuse(name, from);
      return false;
    }
    if (this.tracked.has(name)) return true;
    this.tracked.set(name, { name, due: this.deps.clock.now(), backoff: this.backoff(), version: null });
    this.deps.board.bundle(name);
    return true;
  }

  /** Makes bundles due now (all of them without a name); false when the name is not tracked. */
  dueNow(name?: string): boolean {
    const now = this.deps.clock.now();
    if (name === undefined) {
      for (const t of this.tracked.values()) t.due = now;
      this.listAt = now;
      return true;
    }
    const t = this.tracked.get(name);
    if (t) t.due = now;
    return t !== undefined;
  }

  /** The earliest time a bundle (or the listing) is due. */
  get nextDue(): number {
    const times = [...this.tracked.values()].map((t) => t.due);
    if (this.deps.settings.bundles === 'all') times.push(this.listAt);
    return Math.min(...times);
  }

  /** Name → version of every bundle on disk. */
  versions(): Map<string, string> {
    const out = new Map<string, string>();
    for (const t of this.tracked.values()) if (t.version !== null) out.set(t.name, t.version);
    return out;
  }

  /** Nothing can be fetched without a credential: every bundle backs off, the files stay. */
  credentialFailed(err: Error): void {
    this.noteReach(err);
    const now = this.deps.clock.now();
    for (const t of this.tracked.values()) {
      t.due = Math.max(t.due, now + t.backoff.fail());
      Object.assign(this.deps.board.bundle(t.name), { state: 'error', lastError: err.message, nextRefresh: new Date(t.due) });
    }
  }

  /**
   * Fetches and applies the bundles due before `until` (all of them without it); returns
   * the outcomes, where a bundle fetched but not written is an error too.
   */
  async refresh(until = Infinity): Promise<Outcome[]> {
    const due = [...this.tracked.values()].filter((t) => t.due <= until).map((t) => t.name);
    const outcomes = await this.fetchWithRecovery(due);
    const applied: Outcome[] = [];
    for (const o of outcomes) applied.push(await this.apply(o));
    return applied;
  }

  /**
   * `bundles: all`: tracks what the node may read now; what it may no longer read is
   * removed. A failed listing changes nothing (retried with backoff); `strict` rethrows it.
   * Listed names that are not bundle names are skipped (the others are served) and returned.
   */
  async discover(strict: boolean): Promise<string[]> {
    const { client, clock, settings, logger } = this.deps;
    let names: string[];
    try {
      names = await client.listReadable();
    } catch (err) {
      this.noteReach(err);
      this.listAt = clock.now() + this.listBackoff.fail();
      logger.error(`agent: cannot list the node's bundles: ${(err as Error).message}`);
      if (strict) throw err;
      return [];
    }
    this.listBackoff.succeed();
    this.listAt = clock.now() + refreshDelay(settings.refresh.listIntervalMs / 1000, settings.refresh.jitter, this.deps.random);
    const refused = names.filter((name) => !this.track(name));
    const listed = new Set(names);
    for (const t of [...this.tracked.values()].filter((x) => !listed.has(x.name))) {
      if (settings.output.removeRevoked) await this.remove(t, new Error('no longer assigned to this node'));
      this.tracked.delete(t.name);
      this.deps.board.forget(t.name);
    }
    return refused;
  }

  /** A name refused as a bundle name: on the status board, and logged the first time only. */
  private refuse(name: string, from: 'server' | 'settings'): void {
    this.deps.board.refusedName(name);
    if (this.refusalsLogged.has(name) || this.refusalsLogged.size >= MAX_REFUSALS_LOGGED) return;
    this.refusalsLogged.add(name);
    const what = from === 'server' ? `the server listed ${quoteName(name)}, which` : `${quoteName(name)}`;
    this.deps.logger.error(`agent: ${what} is not a valid bundle name: skipped, nothing is written for it`);
  }

  /** Fetches bundles; refusals are retried once after the credential was re-established. */
  private async fetchWithRecovery(names: string[]): Promise<Outcome[]> {
    const outcomes = await this.fetchAll(names);
    const refused = outcomes.filter((o) => 'error' in o && o.error instanceof ServerError && o.error.status === 403);
    if (refused.length === 0 || !(await this.deps.auth.recover())) return outcomes;
    const retried = new Map((await this.fetchAll(refused.map((o) => o.name))).map((o) => [o.name, o]));
    return outcomes.map((o) => retried.get(o.name) ?? o);
  }

  private async fetchAll(names: string[]): Promise<Outcome[]> {
    const out: Outcome[] = [];
    const fetchOne = async (name: string) => {
      try {
        out.push({ name, bundle: await this.deps.client.getBundle(name) });
      } catch (err) {
        out.push({ name, error: err as Error });
      }
    };
    await forEachLimited(names, fetchOne, CONCURRENCY);
    return out;
  }

  /** Acts on one fetch; returns its outcome, an error when the bundle could not be written. */
  private async apply(o: Outcome): Promise<Outcome> {
    const t = this.tracked.get(o.name);
    if (!t) return o;
    if ('bundle' in o) {
      const error = await this.write(t, o.bundle);
      return error ? { name: o.name, error } : o;
    }
    this.noteReach(o.error);
    if (isGone(o.error) && this.deps.settings.output.removeRevoked) {
      await this.remove(t, o.error);
      return o;
    }
    this.failed(t, o.error.message);
    this.deps.logger.error(`agent: bundle '${t.name}': ${o.error.message} (keeping the files on disk, retry ${t.backoff.attempts})`);
    return o;
  }

  /** Writes a fetched bundle; returns why it could not, or null. */
  private async write(t: Tracked, b: FetchedBundle): Promise<Error | null> {
    const { board, clock, writer, settings } = this.deps;
    board.serverReachable = true;
    let written: boolean;
    try {
      written = await writer.write(t.name, b);
    } catch (err) {
      // An errno code alone says little ("EACCES"): with the path, the operator knows what to fix.
      const e = err as NodeJS.ErrnoException;
      const message = `cannot write the files: ${e.code !== undefined && e.path !== undefined ? `${e.code} ${e.path}` : e.message}`;
      this.failed(t, message);
      this.deps.logger.error(`agent: bundle '${t.name}': ${message}`);
      return new Error(message);
    }
    const now = clock.now();
    t.backoff.succeed();
    t.version = b.version;
    t.due = now + refreshDelay(b.ttl, settings.refresh.jitter, this.deps.random);
    const status = board.bundle(t.name);
    Object.assign(status, {
      state: 'ok',
      version: b.version,
      notAfter: b.notAfter,
      ttl: b.ttl,
      lastRefresh: new Date(now),
      nextRefresh: new Date(t.due),
      lastError: null,
    });
    board.refreshes.inc({ result: written ? 'changed' : 'unchanged' });
    if (!written) return null;
    status.lastChange = new Date(now);
    this.deps.reloads.add(t.name);
    this.deps.logger.info(`agent: bundle '${t.name}': wrote version ${b.version} (not after ${b.notAfter.toISOString()})`);
    return null;
  }

  private async remove(t: Tracked, why: Error): Promise<void> {
    const { board, writer, logger } = this.deps;
    const removed = await writer.remove(t.name).catch((err: Error) => {
      logger.error(`agent: bundle '${t.name}': cannot remove the files: ${err.message}`);
      return false;
    });
    t.version = null;
    // Checked again later in case it is given back; in `all` mode the listing decides.
    t.due = this.deps.clock.now() + this.deps.settings.refresh.retryMaxMs;
    Object.assign(board.bundle(t.name), { state: 'removed', version: null, notAfter: null, nextRefresh: new Date(t.due), lastError: why.message });
    board.refreshes.inc({ result: 'removed' });
    if (!removed) return;
    this.deps.reloads.add(t.name);
    logger.log('warn', `agent: bundle '${t.name}': refused by the server (${why.message}): files removed`);
  }

  /** Keeps what is on disk and schedules a retry with backoff. */
  private failed(t: Tracked, message: string): void {
    t.due = this.deps.clock.now() + t.backoff.fail();
    Object.assign(this.deps.board.bundle(t.name), { state: 'error', lastError: message, nextRefresh: new Date(t.due) });
    this.deps.board.refreshes.inc({ result: 'failed' });
  }

  private noteReach(err: unknown): void {
    this.deps.board.serverReachable = !(err instanceof UnreachableError);
  }

  private backoff(): Backoff {
    return new Backoff(this.deps.settings.refresh.retryMinMs, this.deps.settings.refresh.retryMaxMs, this.deps.random);
  }
}

/** The server said this bundle is not the node's (any more): 403, or 404 for the bundle itself. */
export function isGone(err: Error): boolean {
  return err instanceof ServerError && (err.status === 403 || (err.status === 404 && !err.unknownRoute));
}
