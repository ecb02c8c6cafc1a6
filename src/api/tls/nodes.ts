/**
 * `/v1/node/...`: nodes of a group.
 *
 * Registration, enrollment and renewal authenticate by token, declared in the
 * route table (`group-token`, `node-token`); `/v1/node/bundles` takes any node
 * credential (`node`). The token service decides which group a token belongs to;
 * the handlers only check that it is the group the path names. Revoke, ban and
 * unban are `auth: 'policy'`.
 */
import { coded } from '../../errors.js';
import { route, type Route } from '../../server/route.js';
import { jsonObject, stringField } from '../request.js';
import { rejectUnknown } from './fields.js';
import { GROUP_NAME, NODE_ID } from '../params.js';

const SMALL_BODY = 4096;

/** `{"node_id": …}`, required or optional; nothing else. */
function nodeIdField(body: Buffer, required: boolean): string | undefined {
  const req = jsonObject(body);
  rejectUnknown(req, { node_id: true });
  if (req['node_id'] === undefined && !required) return undefined;
  return stringField(req, 'node_id');
}

export const nodeRoutes: Route[] = [
  // What this node may read: the agent's `bundles: all` without a path policy.
  route({
    method: 'GET',
    path: '/v1/node/bundles',
    auth: 'node',
    handler: async ({ state, caller }) => {
      const found = await state.nodes.readableBundles(caller.identity, caller.token);
      return { json: { names: found?.bundles ?? [] } };
    },
  }),

  route({
    method: 'PUT',
    path: '/v1/node/register/',
    params: [GROUP_NAME],
    maxBody: SMALL_BODY,
    auth: 'group-token',
    handler: async (ctx) => {
      const nodeId = nodeIdField(ctx.body, true) as string;
      const t = await ctx.state.nodes.register(ctx.caller.token, nodeId, { group: ctx.resource });
      ctx.setPrincipal(`node:${t.group}/${t.nodeId}`);
      return { json: { node_token: t.token, ttl: t.ttl } };
    },
  }),

  route({
    method: 'PUT',
    path: '/v1/node/renew',
    maxBody: SMALL_BODY,
    auth: 'node-token',
    handler: async ({ state, caller }) => {
      const t = await state.nodes.renew(caller.token);
      return { json: { node_token: t.token, ttl: t.ttl } };
    },
  }),

  route({
    method: 'PUT',
    path: '/v1/node/enroll/',
    params: [GROUP_NAME],
    maxBody: SMALL_BODY,
    auth: 'group-token',
    certificate: 'required',
    handler: async (ctx) => {
      const { identity, token } = ctx.caller;
      const nodeId = nodeIdField(ctx.body, false);
      const e = await ctx.state.nodes.enroll(token, identity, { group: ctx.resource, ...(nodeId !== undefined ? { nodeId } : {}) });
      ctx.setPrincipal(`node:${e.group}/${e.nodeId}`);
      return { json: { group: e.group, node_id: e.nodeId, identity: e.identity } };
    },
  }),

  route({
    method: 'DELETE',
    path: '/v1/node/revoke/',
    params: [GROUP_NAME, NODE_ID],
    handler: async ({ state, params: [group, node] }) => {
      if (!(await state.nodes.revoke(group as string, node as string))) throw coded('NODE_NOT_FOUND');
    },
  }),

  route({
    method: 'PUT',
    path: '/v1/node/ban/',
    params: [GROUP_NAME, NODE_ID],
    handler: async ({ state, params: [group, node], caller }) => {
      await state.nodes.ban(group as string, node as string, caller.principal);
    },
  }),

  route({
    method: 'DELETE',
    path: '/v1/node/unban/',
    params: [GROUP_NAME, NODE_ID],
    handler: async ({ state, params: [group, node] }) => {
      if (!(await state.nodes.unban(group as string, node as string))) throw coded('NODE_NOT_BANNED');
    },
  }),
];
