/**
 * RKS's node setup (rks.md §2.4, §3.7): registration with the group token and
 * `X-LCDN-nodeId` (the group manager's callback decides first, when the group
 * has one), and renew-self for node, group and admin tokens.
 *
 * A node id has one live token: registering again replaces it (RKS let old
 * tokens live on). Group tokens do not expire; renew-self answers them with
 * RKS's 31-day period, as it renews nothing.
 */
import { KeygateError, NotAuthorizedError } from '../../errors.js';
import type { Reply, RequestContext } from '../../server/route.js';
import { CallbackRefusedError } from '../../core/callback.js';
import { InvalidTokenError } from '../../core/tokens.js';
import { adminOf, vaultToken } from './auth.js';
import { ok, rksError } from './wire.js';

/** RKS's node ids (its regex; keygate's own API allows more). */
const NODE_ID = /^[a-zA-Z0-9-]{1,64}$/;
/** What RKS answers to every failed renewal, byte for byte (plus the newline of every error line). */
export const RENEW_DENIED = '{"errors":["permission denied"]}';

/**
 * `POST /rks/v1/node`: 201 `{"nodeToken","ttl"}`. A missing or invalid node id is a
 * 404 (RKS's status), a refusal by the group manager a 403 in RKS's words, and a
 * group manager that cannot answer a 500.
 */
export async function registerNode(ctx: RequestContext): Promise<Reply> {
  const token = vaultToken(ctx);
  const header = ctx.req.headers['x-lcdn-nodeid'];
  const nodeId = typeof header === 'string' ? header : '';
  if (!NODE_ID.test(nodeId)) throw rksError(404, 'Invalid or non existend X-LCDN-nodeId');
  try {
    const t = await ctx.state.nodes.register(token, nodeId);
    ctx.setPrincipal(`node:${t.group}/${t.nodeId}`);
    return ok({ nodeToken: t.token, ttl: t.ttl }, 201);
  } catch (err) {
    if (err instanceof CallbackRefusedError) {
      throw new NotAuthorizedError(err.reason === 'refused' ? `node ${nodeId} not Allowed` : `node ${nodeId} not found`);
    }
    throw err;
  }
}

/**
 * `POST /rks/v1/auth/token/renew-self`: 200 `{"nodeToken": <the same token>, "ttl"}`
 * (the key is `nodeToken` whatever the token, as RKS). Every failure is a 403 with
 * RKS's exact body; one the client did not cause is logged first.
 */
export async function renewSelf(ctx: RequestContext): Promise<Reply> {
  const token = vaultToken(ctx);
  try {
    const { principal, ttl } = await renew(ctx, token);
    ctx.setPrincipal(principal);
    return ok({ nodeToken: token, ttl });
  } catch (err) {
    if (!(err instanceof KeygateError) || err.status >= 500) {
      ctx.state.logger.error(`rks: renew-self failed: ${err instanceof Error ? err.message : 'unknown error'}`);
    }
    throw new NotAuthorizedError(RENEW_DENIED);
  }
}

async function renew(ctx: RequestContext, token: string): Promise<{ principal: string; ttl: number }> {
  const admin = await adminOf(ctx.state, token);
  if (admin !== null) {
    // The init token is configuration, not a token with a lifetime: nothing to renew.
    if (admin === 'rks-root') throw new InvalidTokenError();
    return { principal: admin, ttl: (await ctx.state.tokens.renew(token)).ttl };
  }
  const t = await ctx.state.nodes.renew(token, { allowGroupToken: true });
  return { principal: t.nodeId === '' ? `group:${t.group}` : `node:${t.group}/${t.nodeId}`, ttl: t.ttl };
}
