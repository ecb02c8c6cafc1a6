/**
 * The route table: every route of every surface, in one list, in the order
 * `GET /v1/api` prints them. It is what the server routes (compose/index.ts), what
 * `/v1/api` answers, and so what the OpenAPI check, the route-table test and the
 * hardening tests read. Each row is declared with `route({...})` (server/route.ts)
 * in its surface's file; a new route is added there and joined here.
 *
 * The router's precedence does not depend on the order (exact paths, then prefixes,
 * then templates, then subtrees such as RKS's 404 fallback), but `/v1/api` prints it
 * and the hardening tests walk the routes in it (the dashboard's logout before the
 * fleet's deletes): it is kept as it was when the table was assembled in compose.
 */
import { route, type Route } from '../server/route.js';
import type { Metrics } from '../server/metrics.js';
import type { LogStreams } from '../log/streams.js';
import { keyRoutes } from './kes/keys.js';
import { identityRoutes, policyRoutes } from './kes/policies.js';
import { apiListing, logRoutes, metricsRoutes, systemRoutes } from './kes/system.js';
import { bundleRoutes } from './tls/bundles.js';
import { groupRoutes } from './tls/groups.js';
import { nodeRoutes } from './tls/nodes.js';
import { pkiRoutes } from './pki/index.js';
import { rksFallback, rksRoutes } from './rks/index.js';
import { opsRoutes } from './rks/ops.js';
import { docsRoutes } from './docs/index.js';
import { uiRoutes } from './ui/index.js';
import { packageRoot } from './docs/spec.js';

/** What some routes read besides the request's state: the server's metrics and log streams, and where the assets are. */
export interface RouteDeps {
  readonly metrics: Metrics;
  readonly streams: LogStreams;
  /** The package root, whose `openapi/` and `src/api/*\/assets/` the docs and the dashboard serve (default: this package). */
  readonly root?: string;
}

export function routeTable({ metrics, streams, root = packageRoot() }: RouteDeps): Route[] {
  const table: Route[] = [
    // KES: metrics, log streams and the system routes; keys, policies and identities.
    ...metricsRoutes(metrics),
    ...logRoutes(streams),
    ...systemRoutes,
    route({ method: 'GET', path: '/v1/api', timeoutMs: 10_000, handler: () => ({ json: apiListing(table) }) }),
    ...keyRoutes,
    ...policyRoutes,
    ...identityRoutes,
    // The OpenAPI document and its page; the dashboard.
    ...docsRoutes(root),
    ...uiRoutes(root),
    // TLS distribution: bundles, then the fleet (groups, nodes).
    ...bundleRoutes,
    ...groupRoutes,
    ...nodeRoutes,
    // Short-lived certificates.
    ...pkiRoutes,
    // RKS: its endpoints, its 404 for any other path under /rks/, and its routes at the root.
    ...rksRoutes,
    rksFallback,
    ...opsRoutes(metrics),
  ];
  return table;
}
