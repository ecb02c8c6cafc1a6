/**
 * RKS's group administration (rks.md §2.3): groups, their token, node revocation
 * and secret associations, over the GroupService and NodeService. Admin
 * credentials only: a group token gets 403 here, so unlike RKS it can never read
 * the OAuth secret or rewrite the callback that guards registration (§8.1).
 *
 * Two answers differ from RKS by design: GET never shows the OAuth client secret
 * (`""`), and the group token cannot be read back (keygate keeps only its hash):
 * `GET …/grouptoken` answers 410 and says to rotate it.
 */
import { BadRequestError, KeygateError } from '../../errors.js';
import type { GroupInfo } from '../../core/fleet/groups.js';
import type { GroupSettingsUpdate } from '../../core/fleet/group-settings.js';
import { isValidBundleName } from '../../core/bundles/names.js';
import { decodeBody, done, names, noContent, ok, rksError, secretNotFound, text, type RksHandler, type Shape } from './wire.js';

const REG_INFO: Shape = { callbackURL: 'string', oauthURL: 'string', oauthClientID: 'string', oauthClientSecret: 'string' };

/** keygate's setting names in validation messages → RKS's field names. */
const FIELD_NAMES: Readonly<Record<string, string>> = {
  callback_url: 'callbackURL',
  oauth_url: 'oauthURL',
  oauth_client_id: 'oauthClientID',
  oauth_client_secret: 'oauthClientSecret',
};

/** The four RKS fields as settings; the OAuth request is sent the RKS way (Basic auth and query). */
function regInfoSettings(body: Buffer): GroupSettingsUpdate {
  const info = decodeBody(body, REG_INFO);
  return {
    callbackUrl: text(info, 'callbackURL'),
    oauthUrl: text(info, 'oauthURL'),
    oauthClientId: text(info, 'oauthClientID'),
    oauthClientSecret: text(info, 'oauthClientSecret'),
  };
}

/** GroupRegInfo as RKS answers it, except the client secret, which no answer carries. */
function regInfo(g: GroupInfo) {
  return { callbackURL: g.callbackUrl, oauthURL: g.oauthUrl, oauthClientID: g.oauthClientId, oauthClientSecret: '' };
}

/** Settings errors name RKS's fields (`callbackURL must be an https:// URL …`). */
function renameFields(err: unknown): unknown {
  if (!(err instanceof BadRequestError) || err.field === undefined) return err;
  const rks = FIELD_NAMES[err.field];
  return rks === undefined ? err : new BadRequestError(rks + err.message.slice(err.field.length), { code: err.code, field: rks });
}

/** Admin credentials only (the route's auth mode); `{groupname}` is the path's first name. */
export function groupHandlers() {
  return {
    createGroup: async (ctx) => {
      const [group] = names(ctx);
      const settings: GroupSettingsUpdate = { ...regInfoSettings(ctx.body), oauthMode: 'rks' };
      try {
        const { groupToken } = await ctx.state.groups.create(group, settings, ctx.caller.principal);
        return ok({ groupToken }, 201);
      } catch (err) {
        if (err instanceof KeygateError && err.status === 409) throw rksError('RKS_GROUP_EXISTS');
        throw renameFields(err);
      }
    },

    getGroup: async (ctx) => ok(regInfo(await ctx.state.groups.describe(names(ctx)[0]))),

    updateGroup: async (ctx) => {
      const settings = regInfoSettings(ctx.body);
      try {
        return ok(regInfo(await ctx.state.groups.update(names(ctx)[0], settings)));
      } catch (err) {
        throw renameFields(err);
      }
    },

    deleteGroup: async (ctx) => {
      await ctx.state.groups.delete(names(ctx)[0]);
      return noContent(ctx);
    },

    getGroupToken: async (ctx) => {
      await ctx.state.groups.record(names(ctx)[0]);
      throw rksError('RKS_GROUP_TOKEN_UNREADABLE');
    },

    rotateGroupToken: async (ctx) => ok(await ctx.state.groups.rotate(names(ctx)[0])),

    // 204 whether or not the node existed, as RKS; the node may register again.
    revokeNode: async (ctx) => {
      const [group, nodeId] = names(ctx);
      await ctx.state.nodes.revoke(group, nodeId);
      return noContent(ctx);
    },

    groupSecrets: async (ctx) => ok(await ctx.state.groups.bundlesOf(names(ctx)[0])),

    associate: async (ctx) => {
      const [group, fqdn] = names(ctx);
      if (!isValidBundleName(fqdn)) throw secretNotFound();
      if (!(await ctx.state.groups.assign(group, fqdn))) throw rksError('RKS_SECRET_ASSOCIATED', [fqdn, group]);
      return done(200);
    },

    // RKS checks the group, then the secret, and answers 204 even when they were not associated.
    dissociate: async (ctx) => {
      const [group, fqdn] = names(ctx);
      await ctx.state.groups.record(group);
      if (!isValidBundleName(fqdn) || !(await ctx.state.bundles.exists(fqdn))) throw secretNotFound();
      await ctx.state.groups.unassign(group, fqdn);
      return noContent(ctx);
    },
  } satisfies Record<string, RksHandler>;
}
