/**
 * The RKS-compatible surface (shared/reference/rks.md §2, §7): one subtree route,
 * `/rks/**`, that routes as RKS's gorilla/mux router does — exact methods and
 * paths, `{groupname}` of `[a-zA-Z0-9-]{1,64}`, `{fqdn}` and `{nodeId}` any
 * segment, 404 `No Route` for anything else, wrong methods included — then
 * applies RKS's body rules, and answers in RKS's shapes with plain-text errors;
 * plus `/healthz`, `/metrics` and `/` at the root (ops.ts).
 *
 * Handlers authenticate by token themselves (auth.ts) and name the caller in
 * the audit log. Domain errors are reworded as RKS words them, and keystore
 * failures become RKS's 500.
 */
import { ConflictError, KeygateError, NotFoundError, TooManyRequestsError } from '../../errors.js';
import { DEFAULT_TIMEOUT_MS, MAX_CRYPTO_BODY, type Route } from '../../server/route.js';
import type { Metrics } from '../../server/metrics.js';
import { AuthThrottle, type ThrottleOptions } from '../../server/throttle.js';
import { RksAuth } from './auth.js';
import { groupHandlers } from './groups.js';
import { registerNode, renewSelf } from './nodes.js';
import { opsRoutes } from './ops.js';
import { secretHandlers } from './secrets.js';
import { checkBodyHeaders, groupNotFound, noRoute, rksError, secretNotFound, type Params, type RksHandler } from './wire.js';

interface RksRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  segments: string[];
  handler: RksHandler;
}

const GROUP_NAME = /^[a-zA-Z0-9-]{1,64}$/;

function table(auth: RksAuth): RksRoute[] {
  const g = groupHandlers(auth);
  const s = secretHandlers(auth);
  const rows: Array<[RksRoute['method'], string, RksHandler]> = [
    ['POST', '/rks/v1/init', (ctx) => auth.init(ctx)],
    ['POST', '/rks/v1/admin/login', (ctx) => auth.login(ctx)],
    ['POST', '/rks/v1/group/{groupname}', g.createGroup],
    ['GET', '/rks/v1/group/{groupname}', g.getGroup],
    ['PUT', '/rks/v1/group/{groupname}', g.updateGroup],
    ['DELETE', '/rks/v1/group/{groupname}', g.deleteGroup],
    ['GET', '/rks/v1/group/{groupname}/config', g.getGroup],
    ['GET', '/rks/v1/group/{groupname}/grouptoken', g.getGroupToken],
    ['PUT', '/rks/v1/group/{groupname}/grouptoken', g.rotateGroupToken],
    ['DELETE', '/rks/v1/group/{groupname}/nodes/{nodeId}', g.revokeNode],
    ['GET', '/rks/v1/group/{groupname}/secrets', g.groupSecrets],
    ['POST', '/rks/v1/group/{groupname}/secrets/{fqdn}', g.associate],
    ['DELETE', '/rks/v1/group/{groupname}/secrets/{fqdn}', g.dissociate],
    ['POST', '/rks/v1/secret/{fqdn}', s.createSecret],
    ['PUT', '/rks/v1/secret/{fqdn}', s.updateSecret],
    ['DELETE', '/rks/v1/secret/{fqdn}', s.deleteSecret],
    ['GET', '/rks/v1/secret/{fqdn}', s.getSecret],
    ['GET', '/rks/v1/secret/{fqdn}/groups', s.secretGroups],
    ['POST', '/rks/v1/node', registerNode],
    ['POST', '/rks/v1/auth/token/renew-self', renewSelf],
  ];
  return rows.map(([method, path, handler]) => ({ method, segments: path.split('/'), handler }));
}

/**
 * The route and its parameters for a request, or null. Segments are matched
 * percent-decoded, as Go's router sees them; one that decodes to something with
 * a '/' matches nothing. @throws 400 for a malformed percent-encoding
 */
function match(routes: readonly RksRoute[], method: string, path: string): { route: RksRoute; params: Params } | null {
  let segments: string[];
  try {
    segments = path.split('/').map(decodeURIComponent);
  } catch {
    throw rksError(400, 'invalid URL escape');
  }
  for (const route of routes) {
    if (route.method !== method || route.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = route.segments.every((want, i) => {
      const got = segments[i] as string;
      if (!want.startsWith('{')) return got === want;
      if (got === '' || got.includes('/') || (want === '{groupname}' && !GROUP_NAME.test(got))) return false;
      params[want.slice(1, -1)] = got;
      return true;
    });
    if (fits) return { route, params };
  }
  return null;
}

/** Domain errors in RKS's words and statuses. */
function toRks(err: unknown): unknown {
  if (!(err instanceof KeygateError) || err instanceof TooManyRequestsError) return err;
  if (err instanceof NotFoundError && err.message === 'group does not exist') return groupNotFound();
  if (err instanceof NotFoundError && err.message === 'bundle does not exist') return secretNotFound();
  // RKS answers 423 when its check-and-set loses; keygate retries first and gets here only under heavy contention.
  if (err instanceof ConflictError && err.message.includes('changed concurrently')) return rksError(423, `${err.message}, please retry later`);
  // Every backend failure is RKS's 500; the message stays the client-safe one.
  if (err.status > 500) return new KeygateError(500, err.code, err.message, { cause: err.cause ?? err });
  return err;
}

/**
 * The RKS surface's routes. `authFailures` is the server's failed-authentication
 * limit: RKS credentials (init token, admin password, tokens) are checked by the
 * handlers, so they keep their own count with the same limit.
 */
export function rksRoutes(metrics: Metrics, authFailures: ThrottleOptions): Route[] {
  const routes = table(new RksAuth(new AuthThrottle(authFailures), metrics));
  const surface: Route = {
    method: '*',
    path: '/rks/**',
    maxBody: MAX_CRYPTO_BODY,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    auth: 'none',
    errors: 'text',
    handler: async (ctx) => {
      const found = match(routes, ctx.req.method ?? '', ctx.path);
      if (!found) throw noRoute();
      checkBodyHeaders(ctx.req, ctx.body);
      try {
        return await found.route.handler(ctx, found.params);
      } catch (err) {
        throw toRks(err);
      }
    },
  };
  return [surface, ...opsRoutes(metrics)];
}
