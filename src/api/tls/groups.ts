/**
 * `/v1/group/...`: groups of nodes, thin handlers over the GroupService and the
 * node inventory. All are `auth: 'policy'`: the admin, or an identity whose
 * policy allows the path (e.g. `/v1/group/assign/edge/*`). Group tokens are
 * never accepted here: they only register and enroll nodes.
 */
import { BadRequestError, coded } from '../../errors.js';
import { route, type Route } from '../../server/route.js';
import { checkGroupName, type GroupInfo } from '../../core/fleet/groups.js';
import type { GroupSettings, GroupSettingsUpdate } from '../../core/fleet/group-settings.js';
import type { NodeInfo } from '../../core/fleet/nodes.js';
import { jsonObject, listPrefix } from '../request.js';
import { rejectUnknown } from './fields.js';
import { BUNDLE_NAME, GROUP_NAME, GROUP_PATTERN } from '../params.js';

/** Settings bodies carry a CA bundle at most: 64 KiB and some room. */
const SETTINGS_BODY = 128 * 1024;

/** API field → setting, with its JSON type. */
const SETTINGS: Record<string, [keyof GroupSettings, 'number' | 'string' | 'boolean']> = {
  token_ttl: ['tokenTtl', 'number'],
  callback_url: ['callbackUrl', 'string'],
  oauth_url: ['oauthUrl', 'string'],
  oauth_client_id: ['oauthClientId', 'string'],
  oauth_client_secret: ['oauthClientSecret', 'string'],
  oauth_mode: ['oauthMode', 'string'],
  callback_ca: ['callbackCa', 'string'],
  callback_insecure: ['callbackInsecure', 'boolean'],
  callback_timeout: ['callbackTimeout', 'number'],
};

/** Group routes name a group after their verb (list: a pattern; assign and unassign: a group and a bundle). */
const GROUP = { params: [GROUP_NAME] } as const;

export const groupRoutes: Route[] = [
  route({
    ...GROUP,
    method: 'PUT',
    path: '/v1/group/create/',
    maxBody: SETTINGS_BODY,
    handler: async ({ state, resource, caller, body }) => {
      const { groupToken } = await state.groups.create(resource, settingsBody(body), caller.principal);
      return { json: { group_token: groupToken } };
    },
  }),

  route({
    ...GROUP,
    method: 'PUT',
    path: '/v1/group/update/',
    maxBody: SETTINGS_BODY,
    handler: async ({ state, resource, body }) => ({ json: groupJSON(await state.groups.update(resource, settingsBody(body))) }),
  }),

  route({
    ...GROUP,
    method: 'GET',
    path: '/v1/group/describe/',
    handler: async ({ state, resource }) => ({ json: groupJSON(await state.groups.describe(resource)) }),
  }),

  route({
    method: 'GET',
    path: '/v1/group/list/',
    params: [GROUP_PATTERN],
    handler: async ({ state, resource, query }) => {
      const cursor = query.get('continue_at') ?? '';
      if (cursor !== '') checkGroupName(cursor);
      const page = await state.groups.list(listPrefix(resource), cursor);
      return { json: page.continueAt === '' ? { names: page.names } : { names: page.names, continue_at: page.continueAt } };
    },
  }),

  route({
    ...GROUP,
    method: 'DELETE',
    path: '/v1/group/delete/',
    handler: async ({ state, resource }) => {
      await state.groups.delete(resource);
    },
  }),

  route({
    ...GROUP,
    method: 'PUT',
    path: '/v1/group/rotate/',
    handler: async ({ state, resource }) => {
      const { groupToken } = await state.groups.rotate(resource);
      return { json: { group_token: groupToken } };
    },
  }),

  route({
    method: 'PUT',
    path: '/v1/group/assign/',
    params: [GROUP_NAME, BUNDLE_NAME],
    handler: async ({ state, params: [group, bundle], allows }) => {
      // Assigning is granting: only who may read the bundle may hand it to a group's nodes.
      // Refused before the bundle is looked up, so assign cannot tell who may not read it
      // whether the name exists.
      if (!allows(`/v1/cert/get/${bundle}`)) throw coded('ASSIGN_NEEDS_READ');
      await state.groups.assign(group as string, bundle as string);
    },
  }),

  route({
    method: 'DELETE',
    path: '/v1/group/unassign/',
    params: [GROUP_NAME, BUNDLE_NAME],
    handler: async ({ state, params: [group, bundle] }) => {
      await state.groups.unassign(group as string, bundle as string);
    },
  }),

  route({
    ...GROUP,
    method: 'GET',
    path: '/v1/group/nodes/',
    handler: async ({ state, resource, query }) => {
      const cursor = query.get('continue_at') ?? '';
      if (cursor !== '' && !/^[0-9a-f]{64}$/.test(cursor)) throw new BadRequestError('invalid continue_at');
      const page = await state.nodes.list(resource, cursor);
      const nodes = page.nodes.map(nodeJSON);
      return { json: page.continueAt === '' ? { nodes } : { nodes, continue_at: page.continueAt } };
    },
  }),
];

/** A settings body: known fields of the right JSON type; unknown fields are refused (400). */
export function settingsBody(body: Buffer): GroupSettingsUpdate {
  const req = jsonObject(body);
  rejectUnknown(req, SETTINGS);
  const out: Record<string, unknown> = {};
  for (const [field, [key, type]] of Object.entries(SETTINGS)) {
    const v = req[field];
    if (v === undefined) continue;
    if (typeof v !== type) throw new BadRequestError(`${field} must be a ${type === 'boolean' ? 'boolean' : type}`);
    out[key] = v;
  }
  return out as GroupSettingsUpdate;
}

/** Describe's JSON: every setting but the client secret, of which only its presence shows. */
export function groupJSON(g: GroupInfo) {
  return {
    name: g.name,
    token_ttl: g.tokenTtl,
    callback_url: g.callbackUrl,
    oauth_url: g.oauthUrl,
    oauth_client_id: g.oauthClientId,
    oauth_client_secret_set: g.oauthClientSecretSet,
    oauth_mode: g.oauthMode,
    callback_ca: g.callbackCa,
    callback_insecure: g.callbackInsecure,
    callback_timeout: g.callbackTimeout,
    bundles: g.bundles,
    created_at: g.createdAt.toISOString(),
    created_by: g.createdBy,
    updated_at: g.updatedAt.toISOString(),
  };
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function nodeJSON(n: NodeInfo) {
  return {
    node_id: n.nodeId,
    identity: n.identity,
    registered_at: iso(n.registeredAt),
    last_seen: iso(n.lastSeen),
    token_expires_at: iso(n.tokenExpiresAt),
    enrolled_at: iso(n.enrolledAt),
    revoked_at: iso(n.revokedAt),
  };
}
