/**
 * Who calls the RKS surface. Every credential travels in `X-Vault-Token` (or
 * `Authorization: Bearer`): the configured init token, which RKS calls the root
 * token; admin tokens from the login; group tokens, which only register nodes;
 * node tokens, which read their group's secrets and renew themselves.
 *
 * The init token and the admin password are compared in constant time and never
 * logged; admin tokens are ordinary keygate tokens (`kga_…`, stored as hashes,
 * with the configured TTL). Failed logins, and admin routes tried with a
 * credential nobody issued, count towards the per-address throttle (429), so the
 * demo password `12345` cannot be guessed at line rate.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { EntryExistsError } from '../../../keystores/keystore.js';
import { NotAuthorizedError } from '../../errors.js';
import { bearerToken } from '../../server/dispatch.js';
import type { Reply, RequestContext } from '../../server/route.js';
import type { State } from '../../server/state.js';
import type { Metrics } from '../../server/metrics.js';
import type { AuthThrottle } from '../../server/throttle.js';
import { translateStoreError } from '../../core/store-errors.js';
import { decodeBody, done, ok, permissionDenied, rksError, text } from './wire.js';

/** The keystore entry whose existence means `POST /rks/v1/init` has been answered 201. */
export const INIT_ENTRY = 'rks.initialized';
const ADMIN_TOKEN_PREFIX = 'kga_';

/** Equal strings, compared in constant time whatever their lengths. */
function safeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The caller's token. @throws 403 `X-Vault-Token not found` */
export function vaultToken(ctx: RequestContext): string {
  const token = bearerToken(ctx.req);
  if (token === '') throw new NotAuthorizedError('X-Vault-Token not found');
  return token;
}

/**
 * The audit name of an admin credential — `rks-root` for the init token,
 * `rks-admin:<login>` for a live admin token of the configured login — or null
 * for anything else. Node and group tokens cost no keystore read here.
 */
export async function adminOf(state: State, token: string): Promise<string | null> {
  const { initToken, admin } = state.rks;
  if (initToken !== null && safeEqual(token, initToken)) return 'rks-root';
  if (admin === null || !token.startsWith(ADMIN_TOKEN_PREFIX)) return null;
  const record = await state.tokens.lookup(token);
  return record?.kind === 'admin' && record.node === admin.login ? `rks-admin:${record.node}` : null;
}

export class RksAuth {
  constructor(
    private readonly throttle: AuthThrottle,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Admits an admin credential and names it in the audit log; returns that name.
   * A token nobody issued counts as a failed authentication; a group or node token
   * is refused without counting. @throws 403 (`X-Vault-Token not found`, `permission denied`), 429
   */
  async requireAdmin(ctx: RequestContext): Promise<string> {
    const ip = ctx.req.socket.remoteAddress ?? '';
    const token = vaultToken(ctx);
    this.throttle.check(ip);
    const principal = await adminOf(ctx.state, token);
    if (principal !== null) {
      ctx.setPrincipal(principal);
      return principal;
    }
    if ((await ctx.state.tokens.lookup(token)) === null) this.failed(ip, 'bad_token');
    throw permissionDenied();
  }

  /** `POST /rks/v1/admin/login`: 200 `{"adminToken"}`; 400 for wrong credentials; 403 when no admin is configured. */
  async login(ctx: RequestContext): Promise<Reply> {
    const ip = ctx.req.socket.remoteAddress ?? '';
    this.throttle.check(ip);
    const { admin, adminTokenTtl } = ctx.state.rks;
    if (admin === null) throw new NotAuthorizedError('RKS admin login is not configured (rks.admin)');
    const creds = decodeBody(ctx.body, { login: 'string', password: 'string' });
    // Both compared, always: the time taken says nothing about which one was wrong.
    const loginOk = safeEqual(text(creds, 'login'), admin.login);
    const passwordOk = safeEqual(text(creds, 'password'), admin.password);
    if (!loginOk || !passwordOk) {
      this.failed(ip, 'forbidden');
      throw rksError(400, 'invalid username or password');
    }
    const { token } = await ctx.state.tokens.issue({ kind: 'admin', group: '', node: admin.login, generation: 'rks-admin', ttl: adminTokenTtl, renewable: true });
    ctx.setPrincipal(`rks-admin:${admin.login}`);
    return ok({ adminToken: token });
  }

  /** `POST /rks/v1/init` with the init token: 201 once (the marker is created), 409 afterwards. */
  async init(ctx: RequestContext): Promise<Reply> {
    const ip = ctx.req.socket.remoteAddress ?? '';
    const token = vaultToken(ctx);
    this.throttle.check(ip);
    const { initToken } = ctx.state.rks;
    if (initToken === null || !safeEqual(token, initToken)) {
      this.failed(ip, 'bad_token');
      throw permissionDenied();
    }
    ctx.setPrincipal('rks-root');
    const marker = { initialized_at: new Date().toISOString() };
    try {
      await ctx.state.store.create(INIT_ENTRY, Buffer.from(JSON.stringify(marker)));
    } catch (err) {
      if (err instanceof EntryExistsError) throw rksError(409, 'RKS already initialized');
      throw translateStoreError(err, { exists: 'RKS already initialized', notFound: 'RKS is not initialized', failed: 'failed to initialize RKS' });
    }
    return done(201);
  }

  private failed(ip: string, reason: 'bad_token' | 'forbidden'): void {
    this.metrics.authFailed(reason);
    this.throttle.fail(ip);
  }
}
