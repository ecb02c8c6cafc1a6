/**
 * `/v1/node/...`: nodes of a group.
 *
 * Registration, renewal and enrollment authenticate by token, not by path policy:
 * they are `auth: 'identify'` routes (the certificate identity is computed when one
 * is presented, nothing is refused by the dispatcher) whose handlers demand the
 * token themselves — a group token to register or enroll, a node token to renew —
 * and name the node in the audit log with `setPrincipal`. A group token works only
 * there, and only for its own group. Revoke, ban and unban are `auth: 'policy'`.
 */
import type { TLSSocket } from 'node:tls';
import { NotAuthorizedError, NotFoundError } from '../../errors.js';
import { DEFAULT_TIMEOUT_MS, type RequestContext, type Route } from '../../server/route.js';
import { bearerToken } from '../../server/dispatch.js';
import { peerIdentity } from '../../auth/peer.js';
import { checkGroupName } from '../../core/groups.js';
import { jsonObject, stringField } from '../request.js';
import { rejectUnknown, splitPair } from './fields.js';

const SMALL_BODY = 4096;

function nodeRoute(path: string, method: Route['method'], maxBody: number, auth: Route['auth'], handler: Route['handler'], segments: 1 | 2 = 1): Route {
  return { method, path, maxBody, timeoutMs: DEFAULT_TIMEOUT_MS, auth, segments, handler };
}

/** The caller's token, or a 403 that says one is needed. */
function token(ctx: RequestContext): string {
  const t = bearerToken(ctx.req);
  if (t === '') throw new NotAuthorizedError('not authorized: a token is required (Authorization: Bearer <token>)');
  return t;
}

/** `{"node_id": …}`, required or optional; nothing else. */
function nodeIdField(body: Buffer, required: boolean): string | undefined {
  const req = jsonObject(body);
  rejectUnknown(req, { node_id: true });
  if (req['node_id'] === undefined && !required) return undefined;
  return stringField(req, 'node_id');
}

function target(resource: string): [string, string] {
  const [group, value] = splitPair(resource, 'node id');
  checkGroupName(group);
  return [group, value];
}

export const nodeRoutes: Route[] = [
  // What this node may read: the agent's `bundles: all` without a path policy.
  nodeRoute('/v1/node/bundles', 'GET', 0, 'identify', async (ctx) => {
    const found = await ctx.state.nodes.readableBundles(ctx.identity, bearerToken(ctx.req));
    if (!found) throw new NotAuthorizedError();
    ctx.setPrincipal(found.principal);
    return { json: { names: found.bundles } };
  }),

  nodeRoute('/v1/node/register/', 'PUT', SMALL_BODY, 'identify', async (ctx) => {
    checkGroupName(ctx.resource);
    const groupToken = token(ctx);
    const nodeId = nodeIdField(ctx.body, true) as string;
    const t = await ctx.state.nodes.register(groupToken, nodeId, { group: ctx.resource });
    ctx.setPrincipal(`node:${t.group}/${t.nodeId}`);
    return { json: { node_token: t.token, ttl: t.ttl } };
  }),

  nodeRoute('/v1/node/renew', 'PUT', SMALL_BODY, 'identify', async (ctx) => {
    const t = await ctx.state.nodes.renew(token(ctx));
    ctx.setPrincipal(`node:${t.group}/${t.nodeId}`);
    return { json: { node_token: t.token, ttl: t.ttl } };
  }),

  nodeRoute('/v1/node/enroll/', 'PUT', SMALL_BODY, 'identify', async (ctx) => {
    checkGroupName(ctx.resource);
    const identity = peerIdentity(ctx.req.socket as TLSSocket); // 400 without a certificate
    const groupToken = token(ctx);
    const nodeId = nodeIdField(ctx.body, false);
    const e = await ctx.state.nodes.enroll(groupToken, identity, { group: ctx.resource, ...(nodeId !== undefined ? { nodeId } : {}) });
    ctx.setPrincipal(`node:${e.group}/${e.nodeId}`);
    return { json: { group: e.group, node_id: e.nodeId, identity: e.identity } };
  }),

  nodeRoute(
    '/v1/node/revoke/',
    'DELETE',
    0,
    'policy',
    async ({ state, resource }) => {
      const [group, value] = target(resource);
      if (!(await state.nodes.revoke(group, value))) throw new NotFoundError('node does not exist');
    },
    2,
  ),

  nodeRoute(
    '/v1/node/ban/',
    'PUT',
    0,
    'policy',
    async ({ state, resource, identity }) => {
      const [group, value] = target(resource);
      await state.nodes.ban(group, value, identity);
    },
    2,
  ),

  nodeRoute(
    '/v1/node/unban/',
    'DELETE',
    0,
    'policy',
    async ({ state, resource }) => {
      const [group, value] = target(resource);
      if (!(await state.nodes.unban(group, value))) throw new NotFoundError('node is not banned');
    },
    2,
  ),
];
