/**
 * Obtains and keeps alive the Vault token every request carries.
 *
 * - token: the configured token; `lookup-self` tells its TTL. It is renewed when
 *   renewable but can never be replaced, so once it expires requests fail.
 * - approle / kubernetes: `auth/<engine>/login`, in the auth namespace.
 *
 * A token with a TTL is renewed (`renew-self`) at 80% of it; when renewal fails
 * or cannot extend the token, keygate logs in again. Failures back off
 * exponentially with jitter. Like KES, a token obtained in the background is
 * only used after min(remaining TTL / 2, 30 s) while the old one is still
 * valid, so performance standbys have time to learn it. Tokens, secret IDs and
 * JWTs never appear in a log line or an error.
 */
import { readFile } from 'node:fs/promises';
import { StoreError, StoreUnreachableError } from '../keystore.js';
import { field, isInvalidToken, vaultFailure, type VaultHTTP, type VaultRequest } from './http.js';
import { namespacePath, type VaultAuth, type VaultLogLevel } from './options.js';

interface Lease {
  token: string;
  /** Where `-self` calls for this token are sent. */
  namespace: string;
  /** Epoch ms when the token expires; Infinity for a token without TTL. */
  expiresAt: number;
  renewable: boolean;
}

const RENEW_AT = 0.8;
const MAX_ADOPT_DELAY_MS = 30_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export class VaultAuthenticator {
  private lease: Lease = { token: '', namespace: '', expiresAt: 0, renewable: false };
  /** A token from a background login, waiting for replication (see above). */
  private pending: { lease: Lease; adoptAt: number } | undefined;
  private loggingIn: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly http: VaultHTTP,
    private readonly auth: VaultAuth,
    /** The keystore's namespace: default auth namespace. */
    private readonly namespace: string,
    private readonly log: (level: VaultLogLevel, message: string) => void,
  ) {}

  /** Whether a rejected token can be replaced by logging in again. */
  get canLogin(): boolean {
    return this.auth.kind !== 'token';
  }

  /** The token to send now. */
  get token(): string {
    if (this.pending && (Date.now() >= this.pending.adoptAt || Date.now() >= this.lease.expiresAt)) this.adopt(this.pending.lease);
    return this.lease.token;
  }

  /**
   * Logs in (or looks up the static token) and schedules renewal.
   * Throws StoreError("vault: …") when Vault refuses, StoreUnreachableError when it cannot be reached.
   */
  async start(): Promise<void> {
    this.adopt(await this.obtain());
  }

  /**
   * Replaces `rejected` after Vault answered "permission denied" for it.
   * Concurrent callers share one login; a no-op when the token already changed.
   * Throws StoreError when no new token can be had.
   */
  async refresh(rejected: string): Promise<void> {
    if (this.pending) this.adopt(this.pending.lease);
    if (this.lease.token !== rejected) return;
    if (!this.canLogin) throw new StoreError('vault: the configured token is invalid or expired');
    this.loggingIn ??= this.obtain()
      .then((lease) => this.adopt(lease))
      .finally(() => (this.loggingIn = undefined));
    await this.loggingIn;
  }

  /** Stops renewal. With `revoke`, a token this process logged in for is revoked (best effort). */
  async close(revoke: boolean): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (!revoke || !this.canLogin) return;
    // Tokens this process logged in for would otherwise linger until their TTL (KES #427).
    const leases = [this.lease, this.pending?.lease].filter((l): l is Lease => l !== undefined && l.token !== '');
    await Promise.all(leases.map((l) => this.http.send(this.selfRequest('POST', 'auth/token/revoke-self', l, 2_000)).catch(() => {})));
  }

  private adopt(lease: Lease): void {
    this.pending = undefined;
    this.lease = lease;
    this.failures = 0;
    if (lease.expiresAt !== Infinity) this.schedule(RENEW_AT * (lease.expiresAt - Date.now()));
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    const due = Date.now() + delayMs;
    // Tokens live for weeks; Node fires any timer longer than 2^31-1 ms at once.
    const arm = (): void => {
      const left = due - Date.now();
      this.timer = setTimeout(() => (left > MAX_TIMER_MS ? arm() : void this.renew()), Math.min(Math.max(0, left), MAX_TIMER_MS));
      this.timer.unref();
    };
    arm();
  }

  private retryLater(what: string, err: unknown): void {
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.failures++);
    const delay = backoff / 2 + Math.random() * (backoff / 2);
    this.log('warn', `${(err as Error).message} (${what}; retrying in ${Math.round(delay / 100) / 10} s)`);
    this.schedule(delay);
  }

  /** The renewal timer: renew-self, and log in again where renewal cannot help. */
  private async renew(): Promise<void> {
    if (this.closed) return;
    if (this.loggingIn) {
      const before = this.lease;
      await this.loggingIn.catch(() => {});
      // A successful login scheduled the next renewal itself.
      if (this.closed || this.lease !== before) return;
    }
    if (this.pending) this.adopt(this.pending.lease);
    const lease = this.lease;
    const live = Date.now() < lease.expiresAt;
    if (live && lease.renewable) {
      try {
        const renewed = await this.renewSelf(lease);
        if (this.closed || this.lease !== lease) return;
        if (renewed.expiresAt > lease.expiresAt + 1_000) {
          this.log('debug', `vault: token renewed, ttl ${Math.round((renewed.expiresAt - Date.now()) / 1000)} s`);
          this.adopt(renewed);
          return;
        }
        // Renewal no longer extends the token (its max TTL is near): only a login helps.
        this.lease = renewed;
      } catch (err) {
        if (err instanceof StoreUnreachableError && Date.now() < lease.expiresAt - 1_000) return this.retryLater('token renewal', err);
        this.log('warn', `${(err as Error).message} (token renewal)`);
      }
    }
    if (!this.canLogin) {
      this.log(
        live ? 'warn' : 'error',
        `vault: the configured token ${live ? 'cannot be renewed and expires' : 'has expired'}; requests will fail once it is gone`,
      );
      return;
    }
    try {
      const fresh = await this.obtain();
      if (this.closed) return;
      const remaining = this.lease.expiresAt - Date.now();
      if (remaining > 2_000) {
        this.pending = { lease: fresh, adoptAt: Date.now() + Math.min(remaining / 2, MAX_ADOPT_DELAY_MS) };
        this.failures = 0;
        this.schedule(RENEW_AT * (fresh.expiresAt - Date.now()));
      } else {
        this.adopt(fresh);
      }
    } catch (err) {
      if (!this.closed) this.retryLater('login', err);
    }
  }

  /** A new lease: a login, or for a static token what `lookup-self` says about it. */
  private async obtain(): Promise<Lease> {
    const auth = this.auth;
    if (auth.kind === 'token') return this.lookupSelf(auth.token);
    const namespace = auth.namespace === undefined ? this.namespace : namespacePath(auth.namespace);
    let req: VaultRequest;
    if (auth.kind === 'approle') {
      req = {
        method: 'POST',
        path: `auth/${auth.engine}/login`,
        namespace,
        body: { role_id: auth.roleId, secret_id: auth.secretId },
        secrets: [auth.roleId, auth.secretId],
      };
    } else {
      const jwt = await this.serviceAccountJWT(auth.jwt);
      req = { method: 'POST', path: `auth/${auth.engine}/login`, namespace, body: { role: auth.role, jwt }, secrets: [jwt] };
    }
    const res = await this.http.send(req);
    const block = res.status === 200 ? field(res.body, 'auth') : undefined;
    const token = field(block, 'client_token');
    if (typeof token !== 'string' || token === '') {
      const err = res.status === 200 ? new StoreError(`vault: ${auth.kind} login answered without a token`) : vaultFailure(req, res);
      throw relabel(err, `vault: ${auth.kind} login failed: `);
    }
    const ttl = Number(field(block, 'lease_duration') ?? 0);
    this.log('info', `vault: logged in with ${auth.kind} at auth/${auth.engine}, token ttl ${ttl} s`);
    return { token, namespace, expiresAt: expiry(ttl), renewable: field(block, 'renewable') === true };
  }

  private async lookupSelf(token: string): Promise<Lease> {
    const lease: Lease = { token, namespace: this.namespace, expiresAt: Infinity, renewable: false };
    const req = this.selfRequest('GET', 'auth/token/lookup-self', lease);
    const res = await this.http.send(req);
    if (res.status === 200) {
      const data = field(res.body, 'data');
      return { ...lease, expiresAt: expiry(Number(field(data, 'ttl') ?? 0)), renewable: field(data, 'renewable') === true };
    }
    if (isInvalidToken(res)) throw new StoreError('vault: the configured token is invalid or expired');
    if (res.status === 403) {
      // The token's policies deny lookup-self (no `default` policy): usable, but its TTL is unknown.
      this.log('warn', 'vault: the token may not look itself up; it will not be renewed');
      return lease;
    }
    throw relabel(vaultFailure(req, res), 'vault: token lookup failed: ');
  }

  private async renewSelf(lease: Lease): Promise<Lease> {
    const req = this.selfRequest('POST', 'auth/token/renew-self', lease);
    const res = await this.http.send(req);
    const block = res.status === 200 ? field(res.body, 'auth') : undefined;
    if (block === undefined) throw relabel(vaultFailure(req, res), 'vault: token renewal failed: ');
    return { ...lease, expiresAt: expiry(Number(field(block, 'lease_duration') ?? 0)), renewable: field(block, 'renewable') === true };
  }

  private selfRequest(method: 'GET' | 'POST', path: string, lease: Lease, timeoutMs?: number): VaultRequest {
    return {
      method,
      path,
      token: lease.token,
      namespace: lease.namespace,
      ...(method === 'POST' && { body: {} }),
      ...(timeoutMs !== undefined && { timeoutMs }),
    };
  }

  /** A literal JWT, or (containing '/') a file holding one, read afresh because it rotates. */
  private async serviceAccountJWT(jwt: string): Promise<string> {
    if (!jwt.includes('/')) return jwt;
    try {
      return (await readFile(jwt, 'utf8')).trim();
    } catch (err) {
      throw new StoreError(`vault: cannot read the kubernetes service account token file '${jwt}': ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
}

function expiry(ttlSeconds: number): number {
  return Number.isFinite(ttlSeconds) && ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : Infinity;
}

/** Same class (unreachable stays unreachable), clearer message. */
function relabel(err: StoreError, prefix: string): StoreError {
  const message = prefix + err.message.replace(/^vault: /, '');
  return err instanceof StoreUnreachableError ? new StoreUnreachableError(message) : new StoreError(message);
}
