/**
 * RKS's node setup (rks.md §2.4, §3.7): registration with the group token and
 * `X-LCDN-nodeId` (the group manager's callback decides first, when the group
 * has one), and renew-self for node, group and admin tokens.
 *
 * A node id has one live token: registering again replaces it (RKS let old
 * tokens live on). Group tokens do not expire; renew-self answers them with
 * RKS's 31-day period, as it renews nothing.
 */
import { KeygateError, coded } from '../../errors.js';
import type { Reply, RequestContext } from '../../server/route.js';
import { CallbackRefusedError } from '../../core/fleet/callback.js';
import { MAX_TOKEN_TTL } from '../../core/fleet/group-settings.js';
import { noContent, ok, rksError } from './wire.js';

/** RKS's node ids (its regex; keygate's own API allows more). */
const NODE_ID = /^[a-zA-Z0-9-]{1,64}$/;
/** What RKS answers to every failed renewal, byte for byte (plus the newline of every error line). */

/**
 * `POST /rks/v1/node` with a group token (checked by the dispatcher): 201
 * `{"nodeToken","ttl"}`. A missing or invalid node id is a 404 (RKS's status), a
 * refusal by the group manager a 403 in RKS's words, and a group manager that
 * cannot answer a 500.
 */
export async function registerNode(ctx: RequestContext): Promise<Reply> {
  const header = ctx.req.headers['x-lcdn-nodeid'];
  const nodeId = typeof header === 'string' ? header : '';
  if (!NODE_ID.test(nodeId)) throw rksError('RKS_BAD_NODE_ID');
  try {
    const t = await ctx.state.nodes.register(ctx.caller.token, nodeId);
    ctx.setPrincipal(`node:${t.group}/${t.nodeId}`);
    return ok({ nodeToken: t.token, ttl: t.ttl }, 201);
  } catch (err) {
    if (err instanceof CallbackRefusedError) {
      throw rksError(err.reason === 'refused' ? 'RKS_NODE_REFUSED' : 'RKS_NODE_UNKNOWN', [nodeId]);
    }
    throw err;
  }
}

/**
 * `POST /rks/v1/auth/token/renew-self` with an admin, node or group token (checked
 * by the dispatcher; the init token is configuration, with no lifetime to renew):
 * 200 `{"nodeToken": <the same token>, "ttl"}` (the key is `nodeToken` whatever the
 * token, as RKS). Every failure is a 403 with RKS's exact body; one the client did
 * not cause is logged first.
 */
export async function renewSelf(ctx: RequestContext): Promise<Reply> {
  const { caller } = ctx;
  try {
    // Group tokens do not expire: answered with RKS's nominal 31-day period, renewing nothing.
    const ttl =
      caller.kind === 'group'
        ? MAX_TOKEN_TTL
        : caller.kind === 'node'
          ? (await ctx.state.nodes.renew(caller.token)).ttl
          : (await ctx.state.tokens.renew(caller.token)).ttl;
    return ok({ nodeToken: caller.token, ttl });
  } catch (err) {
    if (!(err instanceof KeygateError) || err.status >= 500) {
      ctx.state.logger.error(`rks: renew-self failed: ${err instanceof Error ? err.message : 'unknown error'}`);
    }
    throw coded('RKS_RENEW_DENIED');
  }
}

/**
 * `POST /rks/v1/auth/token/revoke-self` (as Vault's): the caller's admin or node token
 * ends now; 204. A group token is refused by the route's auth mode (`rks-revoke`): it is
 * revoked by rotating the group, not by itself.
 */
export async function revokeSelf(ctx: RequestContext): Promise<Reply> {
  await ctx.state.tokens.revoke(ctx.caller.token);
  return noContent(ctx);
}
