/**
 * The composition root: turns a validated Config into a running server
 * (keystore, services, state snapshot, routes, listener).
 */
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { kesRoutes } from '../api/kes/index.js';
import { listen, type Listener } from '../server/listener.js';
import type { Route } from '../server/route.js';
import type { StateHolder } from '../server/state.js';
import type { Logger } from '../log/logger.js';
import { openKeyStore } from './registry.js';
import { buildLogger, buildState } from './state.js';
import { loadServerTLS } from './tls.js';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly holder: StateHolder;
  readonly listener: Listener;
  close(): Promise<void>;
}

export function splitAddress(address: string): { host: string; port: number } {
  const cut = address.lastIndexOf(':');
  let host = address.slice(0, cut);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(address.slice(cut + 1)) };
}

export async function startServer(config: Config, options: { logger?: Logger } = {}): Promise<RunningServer> {
  const tls = loadServerTLS(config.tls);
  const logger = options.logger ?? buildLogger(config.log);
  const store = await openKeyStore(config.keystore, config.cache);
  try {
    const holder: StateHolder = { current: buildState(config, store, logger) };
    for (const { name } of config.keys) {
      if (await holder.current.keys.ensure(name, holder.current.adminName)) logger.info(`keys: created key '${name}'`);
    }
    const routes: Route[] = [];
    routes.push(...kesRoutes(() => routes));
    const { host, port } = splitAddress(config.address);
    const listener = await listen({
      host,
      port,
      tls,
      routes,
      holder,
      headerTimeoutMs: parseDuration(config.limits.header_timeout),
      requestTimeoutMs: parseDuration(config.limits.request_timeout),
      idleTimeoutMs: parseDuration(config.limits.idle_timeout),
      maxHeaderBytes: config.limits.max_header_bytes,
    });
    const shownHost = listener.address.family === 'IPv6' ? `[${listener.address.address}]` : listener.address.address;
    return {
      url: `https://${shownHost}:${listener.address.port}`,
      port: listener.address.port,
      holder,
      listener,
      async close() {
        await listener.close();
        await store.close();
        await logger.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
