/**
 * The only module that knows the keystore adapters: a plain table from the
 * configuration's keystore kind to a factory.
 */
import { ConfigError } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { KeyStore } from '../../keystores/keystore.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { FSKeyStore } from '../../keystores/fs.js';
import { CachedKeyStore } from '../../keystores/cache.js';
import { parseDuration } from '../config/duration.js';
import { InstrumentedKeyStore } from '../../keystores/instrumented.js';
import type { Metrics } from '../server/metrics.js';

type Factory = (config: Config['keystore']) => Promise<KeyStore>;

const registry: Record<string, Factory> = {
  memory: async () => new MemoryKeyStore(),
  fs: async (c) => {
    const path = (c.fs as { path: string }).path;
    try {
      return await FSKeyStore.open(path);
    } catch (err) {
      throw new ConfigError(`keystore.fs.path: cannot use '${path}': ${(err as Error).message}`);
    }
  },
};

/**
 * Opens the configured keystore: the adapter, timed for the metrics, and (for every
 * backend but memory) behind the read cache.
 */
export async function openKeyStore(config: Config['keystore'], cache: Config['cache'], metrics?: Metrics): Promise<KeyStore> {
  const kind = Object.keys(config)[0] ?? '';
  const factory = registry[kind];
  if (!factory) throw new ConfigError(`keystore: '${kind}' is not supported by this build`);
  const adapter = await factory(config);
  const store = metrics ? new InstrumentedKeyStore(adapter, (op, s, failed) => metrics.keystoreOp(op, s, failed)) : adapter;
  if (kind === 'memory' || cache.max_bytes === 0) return store;
  return new CachedKeyStore(store, {
    anyMs: parseDuration(cache.expiry.any),
    unusedMs: parseDuration(cache.expiry.unused),
    offlineMs: parseDuration(cache.expiry.offline),
    maxBytes: cache.max_bytes,
  });
}

/** Cache counters for the metrics, when the store has a cache in front. */
export function cacheStats(store: KeyStore): { hits: number; misses: number; evictions: number } | undefined {
  return store instanceof CachedKeyStore ? store.snapshot() : undefined;
}
