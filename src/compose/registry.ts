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

/** Opens the configured keystore; every backend but memory sits behind the read cache. */
export async function openKeyStore(config: Config['keystore'], cache: Config['cache']): Promise<KeyStore> {
  const kind = Object.keys(config)[0] ?? '';
  const factory = registry[kind];
  if (!factory) throw new ConfigError(`keystore: '${kind}' is not supported by this build`);
  const store = await factory(config);
  if (kind === 'memory' || cache.max_bytes === 0) return store;
  return new CachedKeyStore(store, {
    anyMs: parseDuration(cache.expiry.any),
    unusedMs: parseDuration(cache.expiry.unused),
    offlineMs: parseDuration(cache.expiry.offline),
    maxBytes: cache.max_bytes,
  });
}
