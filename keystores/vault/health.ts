/**
 * Tracks whether Vault can serve: `sys/health` is probed every ping interval
 * (every second while Vault is sealed or unreachable, so recovery is noticed
 * quickly), and requests report what they ran into. While Vault is known to be
 * sealed or unreachable, operations fail at once with StoreUnreachableError
 * instead of each waiting for a timeout.
 *
 * Health is a root-only endpoint: it is sent without `X-Vault-Namespace`
 * (namespaced, Vault answers 404 or 400 for it — KES #511) and without a token.
 * With several endpoints, every node is asked and only an active node counts
 * (VaultHTTP.health): a standby says 200 with `standbyok` even while no active
 * node exists.
 */
import { StoreError, StoreUnreachableError, type StoreStatus } from '../keystore.js';
import { field, type VaultHTTP, type VaultRequest } from './http.js';
import type { VaultLogLevel } from './options.js';

export type HealthState = 'ok' | 'sealed' | 'unreachable';

/** How often Vault is re-probed while it cannot serve. */
const RECHECK_MS = 1_000;

/**
 * standbyok/perfstandbyok: a standby forwards requests to the active node, so
 * it serves as well as the active one does.
 */
const HEALTH: VaultRequest = { method: 'GET', path: 'sys/health', query: { standbyok: 'true', perfstandbyok: 'true' } };

export class HealthMonitor {
  private state: HealthState = 'ok';
  private reason = '';
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<StoreStatus> | undefined;
  private closed = false;

  constructor(
    private readonly http: VaultHTTP,
    private readonly intervalMs: number,
    private readonly log: (level: VaultLogLevel, message: string) => void,
  ) {}

  get current(): HealthState {
    return this.state;
  }

  /** Starts periodic probing. */
  start(): void {
    this.schedule();
  }

  /** Throws StoreUnreachableError while Vault is known to be sealed or unreachable. */
  assertServing(): void {
    if (this.state !== 'ok') throw new StoreUnreachableError(`vault: ${this.reason} (failing fast until sys/health recovers)`);
  }

  /**
   * Probes `sys/health` now (concurrent callers share one probe) and updates the state.
   * Returns the round-trip time; throws StoreUnreachableError when Vault is
   * sealed, uninitialised or unreachable, StoreError for any other unhealthy answer.
   */
  probe(): Promise<StoreStatus> {
    this.probing ??= this.probeOnce().finally(() => (this.probing = undefined));
    return this.probing;
  }

  /** Records what a request found: Vault sealed, or not answering at all. */
  report(state: Exclude<HealthState, 'ok'>, reason: string): void {
    this.transition(state, reason);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async probeOnce(): Promise<StoreStatus> {
    const started = performance.now();
    let status: number;
    let sealed: unknown;
    try {
      const res = await this.http.health(HEALTH);
      status = res.status;
      sealed = field(res.body, 'sealed');
    } catch (err) {
      this.transition('unreachable', (err as Error).message.replace(/^vault: /, ''));
      throw err;
    }
    const latencyMs = performance.now() - started;
    if (status === 503 || sealed === true) {
      this.transition('sealed', 'Vault is sealed');
      throw new StoreUnreachableError('vault: Vault is sealed');
    }
    if (status === 501) {
      this.transition('sealed', 'Vault is not initialized');
      throw new StoreUnreachableError('vault: Vault is not initialized');
    }
    if (status !== 200 && status !== 429 && status !== 473) {
      // Reachable and unsealed (e.g. a DR secondary, 472): requests will tell what they get.
      this.transition('ok', '');
      throw new StoreError(`vault: GET sys/health: unhealthy status ${status}`);
    }
    this.transition('ok', '');
    return { latencyMs };
  }

  private transition(state: HealthState, reason: string): void {
    const changed = state !== this.state;
    this.state = state;
    this.reason = reason;
    if (!changed) return;
    this.log(state === 'ok' ? 'info' : 'warn', state === 'ok' ? 'vault: Vault is serving again' : `vault: ${reason}; operations fail fast`);
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    const delay = this.state === 'ok' ? this.intervalMs : Math.min(this.intervalMs, RECHECK_MS);
    this.timer = setTimeout(() => {
      this.probe()
        .catch(() => {})
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }
}
