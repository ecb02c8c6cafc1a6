/**
 * The RKS-compatible surface (docs/api.md, RKS-compatible API), routed as RKS's
 * gorilla/mux router does — exact methods and paths, `{groupname}` of
 * `[a-zA-Z0-9-]{1,64}`, `{fqdn}` and `{nodeId}` any segment, 404 `No Route` for
 * anything else, wrong methods included — then
 * applies RKS's body rules, and answers in RKS's shapes with plain-text errors;
 * plus `/healthz`, `/metrics` and `/` at the root (ops.ts).
 *
 * Each endpoint is a row of the server's route table with its auth mode (the
 * dispatcher checks every credential: init token, admin login and tokens, group
 * and node tokens). Domain errors are reworded as RKS words them, and keystore
 * failures become RKS's 500.
 */
import { KeygateError, TooManyRequestsError, coded, type ErrorCode } from '../../errors.js';
import { MAX_CRYPTO_BODY, route, type GrantContext, type Param, type Route } from '../../server/route.js';
import { isValidBundleName } from '../../core/bundles/names.js';
import { adminHandlers, loginCredentials } from './auth.js';
import { groupHandlers } from './groups.js';
import { registerNode, renewSelf, revokeSelf } from './nodes.js';
import { secretHandlers } from './secrets.js';
import { checkBodyHeaders, groupNotFound, noRoute, rksError, secretNotFound, type RksHandler } from './wire.js';

/** `{groupname}`: RKS's router answers its 404 `No Route` to anything but `[a-zA-Z0-9-]{1,64}`. */
const GROUP: Param = {
  kind: 'group name',
  invalid: (_s, why) => (why === 'encoding' ? rksError('RKS_BAD_ESCAPE') : noRoute()),
  canonical: (s) => {
    if (!/^[a-zA-Z0-9-]{1,64}$/.test(s)) throw noRoute();
    return s;
  },
};
/** `{fqdn}`, `{nodeId}`: any segment; the handler decides (an invalid name is a missing one). */
const ANY: Param = { ...GROUP, kind: 'name', canonical: (s) => s };

/** The codes of a conditional update that lost (RKS's 423). */
const LOST_RACES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['VERSION_CONFLICT', 'RETRIES_EXHAUSTED', 'KEY_VERSION_CONFLICT']);

/** Domain errors in RKS's words and statuses. */
function toRks(err: unknown): unknown {
  if (!(err instanceof KeygateError) || err instanceof TooManyRequestsError) return err;
  if (err.code === 'GROUP_NOT_FOUND') return groupNotFound();
  if (err.code === 'BUNDLE_NOT_FOUND') return secretNotFound();
  // RKS answers 423 when its check-and-set loses; keygate retries first and gets here only under heavy contention.
  if (LOST_RACES.has(err.code)) return rksError('RKS_RETRY_LATER', [err.message]);
  // Every backend failure is RKS's 500; the message stays the client-safe one.
  if (err.status > 500) return new KeygateError(500, err.code, err.message, { cause: err.cause ?? err });
  return err;
}

/** An endpoint's handler inside RKS's middlewares: its body rules before, its wordings of domain errors after. */
function wire(handler: RksHandler): Route['handler'] {
  return async (ctx) => {
    checkBodyHeaders(ctx.req, ctx.body);
    try {
      return await handler(ctx);
    } catch (err) {
      throw toRks(err);
    }
  };
}

/** What every RKS endpoint shares: RKS's body limit, plain-text errors, and 404 `No Route` for a wrong method. */
const RKS = { maxBody: MAX_CRYPTO_BODY, errors: 'text', wrongMethod: noRoute } as const;

/** How the refusal of a reader's or a renewer's credential reads on this surface (RKS words them its own way). */
const readDenied = () => coded('RKS_READ_DENIED');
const renewDenied = () => coded('RKS_RENEW_DENIED');

/** A node reads a secret its group is associated with; for it, a missing secret is refused the same way. */
function nodeMayRead(g: GrantContext): Promise<string | null> | null {
  return isValidBundleName(g.resource) ? g.state.access.canReadBundle('', g.token, g.resource) : null;
}

const g = groupHandlers();
const s = secretHandlers();
const a = adminHandlers();

/**
 * The RKS surface's endpoints: rows of the server's one route table, each with its auth
 * mode, authenticated by the dispatcher like every other route.
 */
export const rksRoutes: Route[] = [
  route({ ...RKS, method: 'POST', path: '/rks/v1/init', auth: 'rks-init', handler: wire(a.init) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/admin/login', auth: 'rks-login', login: loginCredentials, handler: wire(a.login) }),
  // keygate's additions: admin tokens end with the password, or on demand.
  route({ ...RKS, method: 'DELETE', path: '/rks/v1/admin/tokens', auth: 'rks-admin', handler: wire(a.revokeAll) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/auth/token/revoke-self', auth: 'rks-revoke', refused: renewDenied, handler: wire(revokeSelf) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/group/{groupname}', params: [GROUP], auth: 'rks-admin', handler: wire(g.createGroup) }),
  route({ ...RKS, method: 'GET', path: '/rks/v1/group/{groupname}', params: [GROUP], auth: 'rks-admin', handler: wire(g.getGroup) }),
  route({ ...RKS, method: 'PUT', path: '/rks/v1/group/{groupname}', params: [GROUP], auth: 'rks-admin', handler: wire(g.updateGroup) }),
  route({ ...RKS, method: 'DELETE', path: '/rks/v1/group/{groupname}', params: [GROUP], auth: 'rks-admin', handler: wire(g.deleteGroup) }),
  route({ ...RKS, method: 'GET', path: '/rks/v1/group/{groupname}/config', params: [GROUP], auth: 'rks-admin', handler: wire(g.getGroup) }),
  route({ ...RKS, method: 'GET', path: '/rks/v1/group/{groupname}/grouptoken', params: [GROUP], auth: 'rks-admin', handler: wire(g.getGroupToken) }),
  route({ ...RKS, method: 'PUT', path: '/rks/v1/group/{groupname}/grouptoken', params: [GROUP], auth: 'rks-admin', handler: wire(g.rotateGroupToken) }),
  route({ ...RKS, method: 'DELETE', path: '/rks/v1/group/{groupname}/nodes/{nodeId}', params: [GROUP, ANY], auth: 'rks-admin', handler: wire(g.revokeNode) }),
  route({ ...RKS, method: 'GET', path: '/rks/v1/group/{groupname}/secrets', params: [GROUP], auth: 'rks-admin', handler: wire(g.groupSecrets) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/group/{groupname}/secrets/{fqdn}', params: [GROUP, ANY], auth: 'rks-admin', handler: wire(g.associate) }),
  route({ ...RKS, method: 'DELETE', path: '/rks/v1/group/{groupname}/secrets/{fqdn}', params: [GROUP, ANY], auth: 'rks-admin', handler: wire(g.dissociate) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/secret/{fqdn}', params: [ANY], auth: 'rks-admin', handler: wire(s.createSecret) }),
  route({ ...RKS, method: 'PUT', path: '/rks/v1/secret/{fqdn}', params: [ANY], auth: 'rks-admin', handler: wire(s.updateSecret) }),
  route({ ...RKS, method: 'DELETE', path: '/rks/v1/secret/{fqdn}', params: [ANY], auth: 'rks-admin', handler: wire(s.deleteSecret) }),
  route({
    ...RKS,
    method: 'GET',
    path: '/rks/v1/secret/{fqdn}',
    params: [ANY],
    auth: 'rks-reader',
    grant: nodeMayRead,
    refused: readDenied,
    handler: wire(s.getSecret),
  }),
  route({ ...RKS, method: 'GET', path: '/rks/v1/secret/{fqdn}/groups', params: [ANY], auth: 'rks-admin', handler: wire(s.secretGroups) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/node', auth: 'group-token', handler: wire(registerNode) }),
  route({ ...RKS, method: 'POST', path: '/rks/v1/auth/token/renew-self', auth: 'rks-renew', refused: renewDenied, handler: wire(renewSelf) }),
];

/**
 * A path under `/rks/` that is none of the endpoints gets RKS's 404 `No Route`: the
 * table's fallback, which the router tries only after every other route.
 */
export const rksFallback: Route = route({
  method: '*',
  path: '/rks/**',
  auth: 'none',
  errors: 'text',
  handler: () => {
    throw noRoute();
  },
});
