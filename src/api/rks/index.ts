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
import { DEFAULT_TIMEOUT_MS, MAX_CRYPTO_BODY, type AuthMode, type Param, type Route } from '../../server/route.js';
import type { Metrics } from '../../server/metrics.js';
import { adminHandlers, loginCredentials } from './auth.js';
import { groupHandlers } from './groups.js';
import { registerNode, renewSelf, revokeSelf } from './nodes.js';
import { opsRoutes } from './ops.js';
import { secretHandlers } from './secrets.js';
import { checkBodyHeaders, groupNotFound, noRoute, rksError, secretNotFound, type Params, type RksHandler } from './wire.js';

/** `{groupname}`: RKS's router answers its 404 `No Route` to anything but `[a-zA-Z0-9-]{1,64}`. */
const GROUP_PARAM: Param = {
  kind: 'group name',
  invalid: (_s, why) => (why === 'encoding' ? rksError('RKS_BAD_ESCAPE') : noRoute()),
  canonical: (s) => {
    if (!/^[a-zA-Z0-9-]{1,64}$/.test(s)) throw noRoute();
    return s;
  },
};
/** `{fqdn}`, `{nodeId}`: any segment; the handler decides (an invalid name is a missing one). */
const ANY_PARAM: Param = { ...GROUP_PARAM, kind: 'name', canonical: (s) => s };

type Row = [Route['method'], string, AuthMode, RksHandler];

function table(): Row[] {
  const g = groupHandlers();
  const s = secretHandlers();
  const a = adminHandlers();
  return [
    ['POST', '/rks/v1/init', 'rks-init', a.init],
    ['POST', '/rks/v1/admin/login', 'rks-login', a.login],
    // keygate's additions: admin tokens end with the password, or on demand.
    ['DELETE', '/rks/v1/admin/tokens', 'rks-admin', a.revokeAll],
    ['POST', '/rks/v1/auth/token/revoke-self', 'rks-renew', revokeSelf],
    ['POST', '/rks/v1/group/{groupname}', 'rks-admin', g.createGroup],
    ['GET', '/rks/v1/group/{groupname}', 'rks-admin', g.getGroup],
    ['PUT', '/rks/v1/group/{groupname}', 'rks-admin', g.updateGroup],
    ['DELETE', '/rks/v1/group/{groupname}', 'rks-admin', g.deleteGroup],
    ['GET', '/rks/v1/group/{groupname}/config', 'rks-admin', g.getGroup],
    ['GET', '/rks/v1/group/{groupname}/grouptoken', 'rks-admin', g.getGroupToken],
    ['PUT', '/rks/v1/group/{groupname}/grouptoken', 'rks-admin', g.rotateGroupToken],
    ['DELETE', '/rks/v1/group/{groupname}/nodes/{nodeId}', 'rks-admin', g.revokeNode],
    ['GET', '/rks/v1/group/{groupname}/secrets', 'rks-admin', g.groupSecrets],
    ['POST', '/rks/v1/group/{groupname}/secrets/{fqdn}', 'rks-admin', g.associate],
    ['DELETE', '/rks/v1/group/{groupname}/secrets/{fqdn}', 'rks-admin', g.dissociate],
    ['POST', '/rks/v1/secret/{fqdn}', 'rks-admin', s.createSecret],
    ['PUT', '/rks/v1/secret/{fqdn}', 'rks-admin', s.updateSecret],
    ['DELETE', '/rks/v1/secret/{fqdn}', 'rks-admin', s.deleteSecret],
    ['GET', '/rks/v1/secret/{fqdn}', 'rks-reader', s.getSecret],
    ['GET', '/rks/v1/secret/{fqdn}/groups', 'rks-admin', s.secretGroups],
    ['POST', '/rks/v1/node', 'group-token', registerNode],
    ['POST', '/rks/v1/auth/token/renew-self', 'rks-renew', renewSelf],
  ];
}

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

/** How each auth mode's refusal reads on this surface, where RKS words it its own way. */
const REFUSALS: Partial<Record<AuthMode, () => Error>> = {
  'rks-reader': () => coded('RKS_READ_DENIED'),
  'rks-renew': () => coded('RKS_RENEW_DENIED'),
};

function rksRoute([method, path, auth, handler]: Row): Route {
  const names = path.split('/').filter((seg) => seg.startsWith('{')).map((seg) => seg.slice(1, -1));
  const refused = REFUSALS[auth];
  return {
    method,
    path,
    maxBody: MAX_CRYPTO_BODY,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    auth,
    params: names.map((n) => (n === 'groupname' ? GROUP_PARAM : ANY_PARAM)),
    errors: 'text',
    wrongMethod: noRoute,
    ...(refused ? { refused } : {}),
    ...(auth === 'rks-login' ? { login: loginCredentials } : {}),
    handler: async (ctx) => {
      checkBodyHeaders(ctx.req, ctx.body);
      const params: Params = Object.fromEntries(names.map((n, i) => [n, ctx.params[i] as string]));
      try {
        return await handler(ctx, params);
      } catch (err) {
        throw toRks(err);
      }
    },
  };
}

/**
 * The RKS surface's routes: each of RKS's endpoints is a row of the server's one route
 * table, authenticated by the dispatcher like every other route; a path under `/rks/`
 * that is none of them gets RKS's 404 `No Route`.
 */
export function rksRoutes(metrics: Metrics): Route[] {
  const unrouted: Route = {
    method: '*',
    path: '/rks/**',
    maxBody: 0,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    auth: 'none',
    errors: 'text',
    handler: () => {
      throw noRoute();
    },
  };
  return [...table().map(rksRoute), unrouted, ...opsRoutes(metrics)];
}

