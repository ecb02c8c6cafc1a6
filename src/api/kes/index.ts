/** The KES-compatible surface, as a route table. */
import type { Route } from '../../server/route.js';
import type { Metrics } from '../../server/metrics.js';
import type { LogStreams } from '../../log/streams.js';
import { keyRoutes } from './keys.js';
import { identityRoutes, policyRoutes } from './policies.js';
import { systemRoutes } from './system.js';

export function kesRoutes(allRoutes: () => readonly Route[], metrics: Metrics, streams: LogStreams): Route[] {
  return [...systemRoutes(allRoutes, metrics, streams), ...keyRoutes, ...policyRoutes, ...identityRoutes];
}
