/**
 * The composition root: turns a validated Config into a running server
 * (keystore, services, state snapshot, routes, listener), and swaps in a new
 * snapshot when the configuration is reloaded.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { routeTable } from '../api/routes.js';
import { listen, type Listener, type ServerTls } from '../server/listener.js';
import { Metrics } from '../server/metrics.js';
import { ReloadableState, type State, type StateHolder } from '../server/state.js';
import type { Logger } from '../log/logger.js';
import type { KeyStore } from '../../keystores/keystore.js';
import type { CacheReplicas } from '../../keystores/cache.js';
import type { ThrottlePeers } from '../server/throttle.js';
import { LogStreams, type LogPeers } from '../log/streams.js';
import { kesAuditEvent, kesErrorEvent } from '../log/kes-events.js';
import { openKeyStore, cacheStats, behindCache } from './registry.js';
import { buildLogger, buildState } from './state.js';
import { Census } from '../core/census.js';
import { Sweeper } from '../core/sweeper.js';
import { BundleChanges } from '../core/bundles/changes.js';
import { loadServerTls } from './tls.js';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly holder: StateHolder;
  readonly listener: Listener;
  readonly metrics: Metrics;
  /** Applies a new configuration atomically; on any error the old one stays and the error is thrown. */
  reload(config: Config): Promise<void>;
  /** Stops accepting connections, lets in-flight requests finish, closes the keystore. */
  close(): Promise<void>;
}

export function splitAddress(address: string): { host: string; port: number } {
  const cut = address.lastIndexOf(':');
  let host = address.slice(0, cut);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(address.slice(cut + 1)) };
}

/** The fleet gauges (tokens, nodes, expiring bundles) walk the keystore: at most once a minute. */
const CENSUS_MAX_AGE_MS = 60_000;

/** Requests in flight keep the old snapshot; its keystore is closed once they have had time to finish. */
const RETIRE_GRACE_MS = 30_000;

export interface StartOptions {
  /** Replaces the configured logs (tests). */
  logger?: Logger;
  /** The other workers' caches, when this process is one worker of several. */
  replicas?: CacheReplicas;
  /** The other workers' auth-failure throttles, likewise. */
  throttlePeers?: ThrottlePeers;
  /** The other workers' log streams, likewise. */
  logPeers?: LogPeers;
}

/** What a running server swaps at a reload; the closures of metrics and logs read it live. */
interface Live {
  config: Config;
  tls: ServerTls;
  logger: Logger;
  store: KeyStore | undefined;
  holder: StateHolder | undefined;
  /** Outlives reloads: a bundle watch started before one hears of a change made after it. */
  readonly bundleChanges: BundleChanges;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const live: Live = {
    config,
    tls: loadServerTls(config.tls),
    logger: options.logger ?? buildLogger(config.log),
    store: undefined,
    holder: undefined,
    bundleChanges: new BundleChanges(),
  };
  const census = new Census(() => (live.holder as StateHolder).current, {
    maxAgeMs: CENSUS_MAX_AGE_MS,
    firstWaitMs: 5_000,
    onError: (err) => live.holder?.current.logger.error(`metrics: counting tokens, nodes and bundles failed: ${(err as Error).message}`),
  });
  const metrics = new Metrics({
    cache: () => (live.store ? cacheStats(live.store) : undefined),
    fleet: () => (live.holder ? census.get() : Promise.resolve(undefined)),
  });
  const streams = new LogStreams(options.logPeers);
  countLogs(live.logger, metrics, streams);
  const storeLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => live.logger.log(level, message);
  const store = await openKeyStore(config.keystore, config.cache, metrics, storeLog, options.replicas);
  live.store = store;
  try {
    const holder: StateHolder = new ReloadableState(await prepareState(config, store, live.logger, live.bundleChanges));
    live.holder = holder;
    const { host, port } = splitAddress(config.address);
    const listener = await listen({
      host,
      port,
      tls: live.tls,
      routes: routeTable({ metrics, streams }),
      holder,
      metrics,
      headerTimeoutMs: parseDuration(config.limits.header_timeout),
      requestTimeoutMs: parseDuration(config.limits.request_timeout),
      idleTimeoutMs: parseDuration(config.limits.idle_timeout),
      shutdownTimeoutMs: parseDuration(config.limits.shutdown_timeout),
      maxHeaderBytes: config.limits.max_header_bytes,
      maxConnections: config.limits.max_connections,
      authFailures: {
        limit: config.limits.auth_failures,
        windowMs: parseDuration(config.limits.auth_failure_window),
        ...(options.throttlePeers ? { peers: options.throttlePeers } : {}),
        scope: 'http',
      },
    });
    return new Server(live, holder as StateHolder, listener, metrics, streams, storeLog, options);
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Counts every log line in the metrics and hands it to the live streams, in KES's event shapes (kms-go decodes them); the files keep keygate's lines. */
function countLogs(logger: Logger, metrics: Metrics, streams: LogStreams): void {
  logger.onAudit((_line, event, time) => {
    metrics.logged('audit');
    if (event && time !== undefined && streams.wanted('audit')) streams.logged('audit', kesAuditEvent(event, time));
  });
  logger.onError((_line, time, level, message, fields) => {
    metrics.logged('error');
    if (streams.wanted('error')) streams.logged('error', kesErrorEvent(time, level, message, fields));
  });
}

class Server implements RunningServer {
  readonly url: string;
  readonly port: number;
  private readonly stopBackground: () => Promise<void>;
  private readonly watched: string[];
  private readonly reloadTLS = (): void => {
    try {
      this.live.tls = loadServerTls(this.live.config.tls);
      this.listener.server.setSecureContext(this.live.tls);
      this.holder.current.logger.info('tls: server certificate reloaded');
    } catch (err) {
      this.holder.current.logger.error(`tls: keeping the previous certificate: ${(err as Error).message}`);
    }
  };

  constructor(
    private readonly live: Live,
    readonly holder: StateHolder,
    readonly listener: Listener,
    readonly metrics: Metrics,
    private readonly streams: LogStreams,
    private readonly storeLog: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void,
    private readonly options: StartOptions,
  ) {
    const shownHost = listener.address.family === 'IPv6' ? `[${listener.address.address}]` : listener.address.address;
    this.url = `https://${shownHost}:${listener.address.port}`;
    this.port = listener.address.port;
    // Certificates renewed on disk (certbot, cert-manager) are picked up without a signal.
    this.watched = [live.config.tls.cert, live.config.tls.key];
    for (const f of this.watched) watchFile(f, { interval: 2000, persistent: false }, this.reloadTLS);
    this.stopBackground = startBackground(live.config, holder, metrics);
  }

  async reload(next: Config): Promise<void> {
    const { live, holder, options, metrics } = this;
    const current = live.config;
    if (next.address !== current.address || next.tls.auth !== current.tls.auth || next.tls.ca !== current.tls.ca) {
      holder.current.logger.info('reload: address and tls.auth/tls.ca changes take effect after a restart');
    }
    const nextTLS = loadServerTls(next.tls);
    const sameStore = isDeepStrictEqual(next.keystore, current.keystore) && isDeepStrictEqual(next.cache, current.cache);
    const nextStore = sameStore ? (live.store as KeyStore) : await openKeyStore(next.keystore, next.cache, metrics, this.storeLog, options.replicas);
    const nextLogger = options.logger ?? buildLogger(next.log);
    let nextState: State;
    try {
      nextState = await prepareState(next, nextStore, nextLogger, live.bundleChanges);
    } catch (err) {
      if (!sameStore) await nextStore.close();
      if (nextLogger !== live.logger) await nextLogger.close();
      throw err;
    }
    if (nextLogger !== live.logger) countLogs(nextLogger, metrics, this.streams);
    this.listener.server.setSecureContext(nextTLS);
    const old = { store: live.store, logger: live.logger };
    holder.current = nextState;
    Object.assign(live, { store: nextStore, logger: nextLogger, config: next, tls: nextTLS });
    nextLogger.info('reload: configuration applied');
    // Requests in flight keep the old snapshot: its keystore and logs close after a grace period.
    const retire = setTimeout(() => {
      if (old.store !== nextStore) void old.store?.close();
      if (old.logger !== nextLogger) void old.logger.close();
    }, RETIRE_GRACE_MS);
    retire.unref();
  }

  async close(): Promise<void> {
    for (const f of this.watched) unwatchFile(f, this.reloadTLS);
    await this.stopBackground();
    await this.listener.close();
    await this.holder.current.pki.close();
    await this.live.store?.close();
    this.metrics.close();
    await this.live.logger.close();
  }
}

/**
 * The server's timers, with the settings it started with (a change needs a restart): the
 * PKI's tidy (expired certificates leave the issued list and the CRLs, pki.tidy_interval)
 * and housekeeping (housekeeping.interval, '0' = off: bounded runs, on one replica or
 * worker at a time by a lease entry in the keystore). Returns the function that stops
 * them and waits for a sweep in progress.
 */
function startBackground(config: Config, holder: StateHolder, metrics: Metrics): () => Promise<void> {
  const tidy = setInterval(
    () => {
      holder.current.pki.tidy().catch((err: unknown) => holder.current.logger.error(`pki: tidy failed: ${(err as Error).message}`));
    },
    parseDuration(config.pki?.tidy_interval ?? '1h'),
  );
  tidy.unref();
  const sweeper = new Sweeper(() => holder.current.store, {
    batch: config.housekeeping?.batch ?? 1000,
    // Decisions to delete are made on the backend's current entries, not on cached ones.
    backend: () => behindCache(holder.current.store),
  });
  let sweeping: Promise<void> | null = null;
  const sweepEvery = parseDuration(config.housekeeping?.interval ?? '10m');
  const sweep =
    sweepEvery > 0
      ? setInterval(() => {
          sweeping ??= sweepOnce(sweeper, holder, metrics).finally(() => (sweeping = null));
        }, sweepEvery)
      : null;
  sweep?.unref();
  return async () => {
    clearInterval(tidy);
    if (sweep) clearInterval(sweep);
    await sweeping;
  };
}

/** One sweeper run; what it removed goes to the metrics and the log (info), a failure to the error log. */
async function sweepOnce(sweeper: Sweeper, holder: StateHolder, metrics: Metrics): Promise<void> {
  try {
    const r = await sweeper.runOnce();
    if (r) {
      metrics.housekeepingRemoved('expired_token', r.expiredTokens);
      metrics.housekeepingRemoved('san_pair', r.sanPairs);
      metrics.housekeepingRemoved('node', r.nodeRecords);
      metrics.housekeepingRemoved('ban', r.bans);
      metrics.housekeepingRemoved('enrollment', r.enrollments);
    }
    const removed = r ? r.expiredTokens + r.sanPairs + r.nodeRecords + r.bans + r.enrollments : 0;
    if (r && removed > 0) {
      holder.current.logger.info(
        `housekeeping: removed ${r.expiredTokens} expired token records, ${r.sanPairs} stale SAN index pairs, ${r.nodeRecords} node records, ${r.bans} bans and ${r.enrollments} enrollments of deleted groups (${r.scanned} entries read)`,
      );
    }
  } catch (err) {
    holder.current.logger.error(`housekeeping: run failed: ${(err as Error).message}`);
  }
}

/** Builds a State and creates the config's `keys:` that are missing. */
async function prepareState(config: Config, store: KeyStore, logger: Logger, bundleChanges: BundleChanges): Promise<State> {
  const state = buildState(config, store, logger, bundleChanges);
  for (const { name } of config.keys) {
    if (await state.keys.ensure(name, state.adminName)) logger.info(`keys: created key '${name}'`);
  }
  return state;
}
