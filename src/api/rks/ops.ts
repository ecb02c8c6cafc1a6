/**
 * RKS's operational endpoints at the root (rks.md §2.6): `/healthz` (any method,
 * 200 while the keystore answers, else 500), `/metrics` (this server's Prometheus
 * registry, public as RKS's is; `/v1/metrics` is the authenticated one) and `/`
 * (`RKS API`). None takes a credential or shows anything secret.
 */
import { coded } from '../../errors.js';
import { MAX_CRYPTO_BODY, route, type Reply, type RequestContext, type Route } from '../../server/route.js';
import type { Metrics } from '../../server/metrics.js';
import { VERSION } from '../../version.js';
import { ok } from './wire.js';

/**
 * RKS's health document. `vault_health` stands for keygate's keystore, in the
 * fields RKS's monitors read (initialized, sealed); it is left out, as RKS does,
 * when the keystore does not answer.
 */
async function health(ctx: RequestContext): Promise<Reply> {
  const { state } = ctx;
  const base = { rks_version: VERSION, vault_address: state.rks.vaultAddress, vault_reachable: false };
  try {
    await state.store.status();
  } catch (err) {
    state.logger.error(`rks: /healthz: keystore status failed: ${err instanceof Error ? err.message : 'unknown error'}`);
    return ok(base, 500);
  }
  const vaultHealth = { initialized: true, sealed: false, standby: false, server_time_utc: Math.floor(Date.now() / 1000), version: VERSION };
  return ok({ ...base, vault_reachable: true, vault_health: vaultHealth });
}

/** `GET /` answers `RKS API`; any method is routed here so that others get RKS's 404, not a 405. */
function banner(ctx: RequestContext): Reply {
  if (ctx.req.method !== 'GET') throw coded('ROUTE_NOT_FOUND');
  return { text: 'RKS API', contentType: 'text/plain; charset=utf-8' };
}

export function opsRoutes(metrics: Metrics): Route[] {
  return [
    route({ method: '*', path: '/healthz', maxBody: MAX_CRYPTO_BODY, auth: 'none', handler: health }),
    route({ method: 'GET', path: '/metrics', auth: 'none', handler: async () => ({ text: await metrics.scrape(), contentType: metrics.contentType }) }),
    route({ method: '*', path: '/', auth: 'none', handler: banner }),
  ];
}
