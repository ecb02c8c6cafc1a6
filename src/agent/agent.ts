/**
 * The agent's loop. Each wake-up is one batch: make sure the credential is good,
 * (in `bundles: all` mode) learn which bundles the node may read, fetch the bundles
 * that are due, write what changed, remove what the server no longer gives the
 * node, issue the certificates that are due (src/agent/issue.ts), then run the
 * reload command once for the whole batch.
 *
 * Failure rules: an unreachable server (or a 5xx) never touches the files on disk;
 * the bundle is retried with exponential backoff. Only an explicit refusal (403, or
 * 404 for the bundle) removes a bundle's files, and only after the credential was
 * re-checked, so an expired node token is renewed rather than taken as a revocation.
 *
 * Names from the server are input, not trusted: one that is not a valid bundle name is
 * never fetched or written (logged once, shown on the status, and a failure of `--once`),
 * and the writer keeps every file inside `output.dir` whatever it is given.
 */
import type { Logger } from '../log/logger.js';
import type { AgentSettings } from './config.js';
import type { AgentClient } from './client.js';
import { NodeAuth } from './auth.js';
import { BundleSet } from './bundle-set.js';
import { Backoff, WakeTimer, systemClock, type Clock, type Random } from './scheduler.js';
import { quoteName, type BundleWriter } from './writer.js';
import { ReloadQueue, type Reloader } from './reload.js';
import type { StatusBoard } from './status.js';
import { Watchers } from './watch.js';
import { CertificateSet } from './issue.js';

export interface AgentDeps {
  settings: AgentSettings;
  client: AgentClient;
  writer: BundleWriter;
  reloader: Reloader;
  board: StatusBoard;
  logger: Logger;
  clock?: Clock;
  random?: Random;
}

/** Bundles due within this window are fetched in the same batch (one reload for all). */
const BATCH_WINDOW_MS = 5000;

export interface OnceResult {
  ok: boolean;
  /** One line per bundle that could not be fetched and written. */
  failures: string[];
}

export class Agent {
  private readonly clock: Clock;
  private readonly auth: NodeAuth;
  private readonly bundles: BundleSet;
  private readonly reloads: ReloadQueue;
  private readonly wake: WakeTimer;
  private readonly watchers: Watchers;
  private readonly certificates: CertificateSet;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: AgentDeps) {
    const clock = (this.clock = deps.clock ?? systemClock);
    const random = deps.random ?? Math.random;
    const { settings, client, logger, board } = deps;
    const { retryMinMs, retryMaxMs, jitter } = settings.refresh;
    this.reloads = new ReloadQueue(deps.reloader, new Backoff(retryMinMs, retryMaxMs, random), { clock, logger, board });
    this.auth = new NodeAuth(settings.auth, client, { clock, random, logger, board, jitter, retryMinMs, retryMaxMs });
    this.bundles = new BundleSet({ settings, client, writer: deps.writer, auth: this.auth, reloads: this.reloads, board, logger, clock, random });
    this.certificates = new CertificateSet({ settings, client, auth: this.auth, reloads: this.reloads, board, logger, clock, random });
    this.wake = new WakeTimer(clock, () => this.kick());
    this.watchers = new Watchers(client, { clock, random, logger, retryMinMs, retryMaxMs }, (name) => {
      if (this.bundles.dueNow(name)) this.kick();
    });
  }

  /** Starts the loop: the first batch runs at once. */
  async start(): Promise<void> {
    await this.prepare();
    this.kick();
  }

  /** One batch without reload, for `--once`: every bundle fetched and written, or the reasons why not. */
  async once(): Promise<OnceResult> {
    let refused = await this.prepare();
    try {
      await this.auth.ensure();
      if (this.deps.settings.bundles === 'all') refused = [...refused, ...(await this.bundles.discover(true))];
    } catch (err) {
      return { ok: false, failures: [(err as Error).message] };
    }
    // A refused name fails the run: the operator asked for every bundle, and one was not written.
    const failures = [
      ...refused.map((name) => `${quoteName(name)}: not a valid bundle name, skipped`),
      ...(await this.bundles.refresh()).flatMap((o) => ('error' in o ? [`${o.name}: ${o.error.message}`] : [])),
      // Certificates: what is missing or due (a pair on disk that still fits is kept, not issued again).
      ...(await this.certificates.refresh(this.clock.now())).map((f) => `certificate '${f.name}': ${f.error.message}`),
    ];
    this.reloads.clear(); // --once runs before the web server: nothing to reload
    return { ok: failures.length === 0, failures };
  }

  /** Fetches every bundle now (SIGHUP), whatever their schedule. */
  refreshAll(): void {
    this.bundles.dueNow();
    this.kick();
  }

  /** Stops timers and watchers and waits for a batch in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.clear();
    this.watchers.close();
    await this.running;
  }

  /** After stop(), on a clean shutdown: revokes the issued certificates that have `revoke_on_exit`. */
  async revokeOnExit(): Promise<void> {
    await this.certificates.revokeOnExit();
  }

  /** Resolves when no batch is running (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Readies the output directory and tracks the bundles to serve; returns the configured names refused. */
  private async prepare(): Promise<string[]> {
    await this.deps.writer.init();
    await this.certificates.init();
    const { bundles } = this.deps.settings;
    if (bundles !== 'all') return bundles.filter((name) => !this.bundles.track(name, 'settings'));
    // In `all` mode, what is on disk is tracked too, so a bundle unassigned while the agent was down is removed.
    for (const name of await this.deps.writer.bundlesOnDisk()) this.bundles.track(name);
    return [];
  }

  /** Runs a batch now, or right after the one in flight. */
  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.batch()
      .catch((err: unknown) => this.deps.logger.error(`agent: ${(err as Error).message}`))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        } else this.schedule();
      });
  }

  private async batch(): Promise<void> {
    const now = this.clock.now();
    try {
      await this.auth.ensure();
    } catch (err) {
      this.bundles.credentialFailed(err as Error);
      this.certificates.credentialFailed(err as Error);
      return;
    }
    if (this.deps.settings.bundles === 'all' && now >= this.bundles.listAt) await this.bundles.discover(false);
    await this.bundles.refresh(now + BATCH_WINDOW_MS);
    await this.certificates.refresh(now + BATCH_WINDOW_MS);
    await this.reloads.runIfDue();
    if (this.deps.settings.refresh.watch) this.watchers.sync(this.bundles.versions());
  }

  /** Arms the timer for the earliest thing to do. */
  private schedule(): void {
    if (this.stopped) return;
    const next = Math.min(this.bundles.nextDue, this.auth.nextDue, this.reloads.due, this.certificates.nextDue);
    this.wake.clear();
    if (Number.isFinite(next)) this.wake.at(Math.max(next, this.clock.now() + 10));
  }
}
