/**
 * `/v1/node/...`: nodes of a group.
 *
 * Registration, enrollment and renewal authenticate by token, declared in the
 * route table (`group-token`, `node-token`); `/v1/node/bundles` takes any node
 * credential (`node`). The token service decides which group a token belongs to;
 * the handlers only check that it is the group the path names. Revoke, ban and
 * unban are `auth: 'policy'`.
 */
import { BadRequestError, coded } from '../../errors.js';
import { DEFAULT_TIMEOUT_MS, type Route } from '../../server/route.js';
import { jsonObject, stringField } from '../request.js';
import { rejectUnknown } from './fields.js';
import { GROUP_NAME, NODE_ID } from '../params.js';

const SMALL_BODY = 4096;

function nodeRoute(path: string, method: Route['method'], maxBody: number, auth: Route['auth'], handler: Route['handler'], params?: Route['params']): Route {
  return { method, path, maxBody, timeoutMs: DEFAULT_TIMEOUT_MS, auth, ...(params ? { params } : {}), handler };
}

/** `{"node_id": …}`, required or optional; nothing else. */
function nodeIdField(body: Buffer, required: boolean): string | undefined {
  const req = jsonObject(body);
  rejectUnknown(req, { node_id: true });
  if (req['node_id'] === undefined && !required) return undefined;
  return stringField(req, 'node_id');
}

export const nodeRoutes: Route[] = [
  // What this node may read: the agent's `bundles: all` without a path policy.
  nodeRoute('/v1/node/bundles', 'GET', 0, 'node', async ({ state, caller }) => {
    const found = await state.nodes.readableBundles(caller.identity, caller.token);
    return { json: { names: found?.bundles ?? [] } };
  }),

  nodeRoute(
    '/v1/node/register/',
    'PUT',
    SMALL_BODY,
    'group-token',
    async (ctx) => {
      const nodeId = nodeIdField(ctx.body, true) as string;
      const t = await ctx.state.nodes.register(ctx.caller.token, nodeId, { group: ctx.resource });
      ctx.setPrincipal(`node:${t.group}/${t.nodeId}`);
      return { json: { node_token: t.token, ttl: t.ttl } };
    },
    [GROUP_NAME],
  ),

  nodeRoute('/v1/node/renew', 'PUT', SMALL_BODY, 'node-token', async ({ state, caller }) => {
    const t = await state.nodes.renew(caller.token);
    return { json: { node_token: t.token, ttl: t.ttl } };
  }),

  nodeRoute(
    '/v1/node/enroll/',
    'PUT',
    SMALL_BODY,
    'group-token',
    async (ctx) => {
      const { identity, token } = ctx.caller;
      if (identity === '') throw new BadRequestError('tls: client certificate is required');
      const nodeId = nodeIdField(ctx.body, false);
      const e = await ctx.state.nodes.enroll(token, identity, { group: ctx.resource, ...(nodeId !== undefined ? { nodeId } : {}) });
      ctx.setPrincipal(`node:${e.group}/${e.nodeId}`);
      return { json: { group: e.group, node_id: e.nodeId, identity: e.identity } };
    },
    [GROUP_NAME],
  ),

  nodeRoute(
    '/v1/node/revoke/',
    'DELETE',
    0,
    'policy',
    async ({ state, params: [group, node] }) => {
      if (!(await state.nodes.revoke(group as string, node as string))) throw coded('NODE_NOT_FOUND');
    },
    [GROUP_NAME, NODE_ID],
  ),

  nodeRoute(
    '/v1/node/ban/',
    'PUT',
    0,
    'policy',
    async ({ state, params: [group, node], caller }) => {
      await state.nodes.ban(group as string, node as string, caller.principal);
    },
    [GROUP_NAME, NODE_ID],
  ),

  nodeRoute(
    '/v1/node/unban/',
    'DELETE',
    0,
    'policy',
    async ({ state, params: [group, node] }) => {
      if (!(await state.nodes.unban(group as string, node as string))) throw coded('NODE_NOT_BANNED');
    },
    [GROUP_NAME, NODE_ID],
  ),
];
