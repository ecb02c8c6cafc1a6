/** `/version`, `/v1/status`, `/v1/ready`, `/v1/api`, the metrics and the log streams: liveness, readiness, self-description and observation. */
import os from 'node:os';
import { StoreAccessDeniedError, StoreUnreachableError } from '../../../keystores/keystore.js';
import { UnavailableError, coded } from '../../errors.js';
import { route, type Route } from '../../server/route.js';
import type { State } from '../../server/state.js';
import { COMMIT, VERSION } from '../../version.js';
import type { Metrics } from '../../server/metrics.js';
import type { LogStreams } from '../../log/streams.js';

/**
 * An nd-json stream of log lines, held open until the client goes away. The
 * lines are the same metadata-only lines the logs get: never key material.
 */
function logStream(path: string, subscribe: (listener: (line: string) => void) => () => void): Route {
  return route({
    method: 'GET',
    path,
    timeoutMs: 0,
    handler: ({ res }) => {
      // Subscribed before the client sees the answer, so with workers the others already
      // know to send their lines when the client's next request reaches one of them.
      // A subscriber that cannot keep up is cut off rather than buffering without bound.
      const unsubscribe = subscribe((line) => {
        // Ended (shutdown) but not yet closed: nothing more may be written.
        if (res.writableEnded) return;
        if (!res.write(line + '\n') && res.writableLength > 1 << 20) res.destroy();
      });
      res.once('finish', unsubscribe);
      res.once('close', unsubscribe);
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' });
      res.flushHeaders();
      return { streamed: true };
    },
  });
}

/** `/v1/log/audit`, `/v1/log/error`: held open (no timeout) while the client reads. */
export function logRoutes(streams: LogStreams): Route[] {
  return [logStream('/v1/log/audit', (l) => streams.subscribe('audit', l)), logStream('/v1/log/error', (l) => streams.subscribe('error', l))];
}

const started = Date.now();

async function probe(state: State): Promise<{ latencyMs: number; unreachable: boolean }> {
  try {
    const s = await state.store.status();
    return { latencyMs: s.latencyMs, unreachable: false };
  } catch (err) {
    state.logger.error(`keystore: status probe failed: ${(err as Error).message}`);
    if (err instanceof StoreUnreachableError) return { latencyMs: 0, unreachable: true };
    // Reachable but refusing this keygate's credentials: say why (a path and capabilities, never a secret).
    if (err instanceof StoreAccessDeniedError)
      throw new UnavailableError(`key store denies access: ${err.message.replace(/^[a-z]+: /, '')}`, 502, { cause: err, code: 'KEYSTORE_FAILED' });
    throw new UnavailableError('key store is unavailable', 502, { cause: err, code: 'KEYSTORE_FAILED' });
  }
}

/** KES's Prometheus families at `/v1/metrics`; everything, keygate's labelled families included, at `/v1/metrics/keygate` (what Prometheus scrapes). */
export function metricsRoutes(metrics: Metrics): Route[] {
  return [
    route({ method: 'GET', path: '/v1/metrics', handler: async () => ({ text: await metrics.scrapeKES(), contentType: metrics.contentType }) }),
    route({ method: 'GET', path: '/v1/metrics/keygate', handler: async () => ({ text: await metrics.scrape(), contentType: metrics.contentType }) }),
  ];
}

export const systemRoutes: Route[] = [
  route({
    method: 'GET',
    path: '/version',
    timeoutMs: 10_000,
    auth: 'none',
    handler: () => ({ json: { version: VERSION, commit: COMMIT } }),
  }),
  route({
    method: 'GET',
    path: '/v1/status',
    handler: async ({ state }) => {
      const { latencyMs, unreachable } = await probe(state);
      const mem = process.memoryUsage();
      return {
        json: {
          version: VERSION,
          os: process.platform,
          arch: process.arch,
          uptime: Math.floor((Date.now() - started) / 1000),
          num_cpu: os.availableParallelism(),
          num_cpu_used: 1,
          mem_heap_used: mem.heapUsed,
          mem_stack_used: 0,
          // KES reports milliseconds with a floor of 1 for a reachable store.
          keystore_latency: unreachable ? 0 : Math.max(1, Math.round(latencyMs)),
          keystore_unreachable: unreachable,
          // kms-go's Status() refuses "unreachable but not unavailable" (KES never sends this field).
          keystore_unavailable: unreachable,
        },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/ready',
    handler: async ({ state }) => {
      const { unreachable } = await probe(state);
      if (unreachable) throw coded('KEYSTORE_STATUS_TIMEOUT');
    },
  }),
];

/** `GET /v1/api`'s answer: the route table as KES prints its own (method, path, body limit, timeout in seconds). */
export function apiListing(routes: readonly Route[]) {
  return routes.map((r) => ({ method: r.method, path: r.path, max_body: r.maxBody, timeout: Math.round(r.timeoutMs / 1000) }));
}
