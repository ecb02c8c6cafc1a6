/**
 * The node's credential towards the server, in one of three modes:
 * - `certificate`: the client certificate alone (a policy, or an earlier enrollment, lets it read);
 * - `enroll`: the certificate's identity is enrolled into a group with the group token, then reads with the certificate;
 * - `register`: the group token and node id buy a node token, renewed well before it expires and
 *   bought again when the server no longer accepts it.
 * The tokens live in memory only and are never logged.
 */
import type { Logger } from '../log/logger.js';
import type { AgentSettings } from './config.js';
import { ServerError, type AgentClient } from './client.js';
import { Backoff, refreshDelay, type Clock, type Random } from './scheduler.js';
import type { StatusBoard } from './status.js';

/** Share of the token TTL after which it is renewed (before jitter): leaves room for retries. */
const RENEW_AT = 2 / 3;

export class NodeAuth {
  private renewAt = 0;
  private expiresAt = 0;
  private enrolled = false;
  private readonly backoff: Backoff;

  constructor(
    private readonly auth: AgentSettings['auth'],
    private readonly client: AgentClient,
    private readonly deps: { clock: Clock; random: Random; logger: Logger; board: StatusBoard; jitter: number; retryMinMs: number; retryMaxMs: number },
  ) {
    this.backoff = new Backoff(deps.retryMinMs, deps.retryMaxMs, deps.random);
  }

  /** When ensure() next has work (renewing the node token); Infinity when never. */
  get nextDue(): number {
    return this.auth.mode === 'register' && this.client.token !== '' ? this.renewAt : Infinity;
  }

  /**
   * Puts a usable credential in place before reads: registers or enrolls on first use,
   * renews the node token when due. A failed renewal is retried with backoff while the
   * token is still valid. @throws when there is no usable credential (ServerError, UnreachableError)
   */
  async ensure(): Promise<void> {
    const now = this.deps.clock.now();
    if (this.auth.mode === 'enroll' && !this.enrolled) return this.enroll();
    if (this.auth.mode !== 'register') return;
    if (this.client.token === '' || now >= this.expiresAt) return this.register();
    if (now < this.renewAt) return;
    try {
      this.accept(await this.client.renew());
      this.deps.logger.info('agent: node token renewed');
    } catch (err) {
      if (err instanceof ServerError && (err.status === 401 || err.status === 403)) return this.register();
      this.renewAt = now + this.backoff.fail();
      this.deps.logger.log('warn', `agent: cannot renew the node token, retrying: ${(err as Error).message}`);
    }
  }

  /**
   * After the server refused a read (403): re-establishes the credential once.
   * True when something changed and the read is worth retrying; false when the
   * credential was fine, so the refusal stands (the bundle is not the node's).
   */
  async recover(): Promise<boolean> {
    if (this.auth.mode === 'certificate') return false;
    if (this.auth.mode === 'enroll') {
      this.enrolled = false;
      await this.enroll().catch(() => undefined);
      return this.enrolled;
    }
    try {
      this.accept(await this.client.renew());
      return false; // the token is good: the refusal is about the bundle
    } catch (err) {
      if (!(err instanceof ServerError)) return false; // no answer: nothing learnt, the refusal stands
    }
    await this.register().catch(() => undefined);
    return this.client.token !== '';
  }

  private async register(): Promise<void> {
    if (this.auth.mode !== 'register') return;
    const { group, groupToken, nodeId } = this.auth;
    this.client.token = '';
    this.deps.board.tokenExpiresAt = null;
    try {
      this.accept(await this.client.register(group, groupToken, nodeId));
    } catch (err) {
      this.deps.logger.error(`agent: cannot register node '${nodeId}' in group '${group}': ${(err as Error).message}`);
      throw err;
    }
    this.deps.logger.info(`agent: registered node '${nodeId}' in group '${group}'`);
  }

  private async enroll(): Promise<void> {
    if (this.auth.mode !== 'enroll') return;
    const { group, groupToken, nodeId } = this.auth;
    try {
      await this.client.enroll(group, groupToken, nodeId);
      this.deps.logger.info(`agent: certificate enrolled in group '${group}'`);
    } catch (err) {
      this.deps.logger.error(`agent: cannot enroll this certificate in group '${group}': ${(err as Error).message}`);
      if (!(err instanceof ServerError)) throw err; // unreachable: try again before reading
      // Refused: the certificate may be enrolled already or allowed by a policy; reads decide.
    }
    this.enrolled = true;
  }

  private accept(t: { token: string; ttl: number }): void {
    const now = this.deps.clock.now();
    this.client.token = t.token;
    this.expiresAt = now + t.ttl * 1000;
    this.renewAt = now + refreshDelay(t.ttl * RENEW_AT, this.deps.jitter, this.deps.random);
    this.backoff.succeed();
    this.deps.board.tokenExpiresAt = new Date(this.deps.clock.now() + t.ttl * 1000);
  }
}
