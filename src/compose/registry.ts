/**
 * The only module that knows the keystore adapters: a plain table from the
 * configuration's keystore kind to a factory.
 */
import { ConfigError } from '../errors.js';
import type { Config, VaultConfig } from '../config/schema.js';
import { VaultKeyStore } from '../../keystores/vault/index.js';
import type { VaultOptions } from '../../keystores/vault/options.js';
import { readCAs } from './tls.js';
import type { KeyStore } from '../../keystores/keystore.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { FSKeyStore } from '../../keystores/fs.js';
import { CachedKeyStore, type CacheReplicas } from '../../keystores/cache.js';
import { CREDENTIAL_ENTRY_PREFIXES } from '../core/fleet/credential-entries.js';
import { GROUP_PREFIX } from '../core/fleet/groups.js';
import { parseDuration } from '../config/duration.js';
import { InstrumentedKeyStore } from '../../keystores/instrumented.js';
import type { Metrics } from '../server/metrics.js';
import { readFileOr } from '../files/read.js';

export type StoreLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
type Factory = (config: Config['keystore'], log: StoreLog) => Promise<KeyStore>;

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
  vault: async (c, log) => {
    const vault = c.vault as VaultConfig;
    try {
      return await VaultKeyStore.connect(vaultOptions(vault, log));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`keystore.vault: cannot use ${vault.endpoint}: ${(err as Error).message}`);
    }
  },
};

/** Maps the `keystore.vault` config section onto the adapter's own options. */
function vaultOptions(vault: VaultConfig, log: StoreLog): VaultOptions {
  const options: VaultOptions = {
    endpoint: vault.endpoint,
    ...(vault.endpoints !== undefined && { endpoints: vault.endpoints }),
    engine: vault.engine,
    version: vault.version,
    auth: vaultAuth(vault),
    pingIntervalMs: parseDuration(vault.status?.ping ?? '10s'),
    timeoutMs: parseDuration(vault.timeout ?? '10s'),
    log,
  };
  if (vault.namespace !== undefined) options.namespace = vault.namespace;
  if (vault.prefix !== undefined) options.prefix = vault.prefix;
  if (vault.tls) options.tls = vaultTls(vault.tls);
  return options;
}

/** `keystore.vault.tls`: the CA, client certificate and key read from their files (the Vault PKI issuer reuses it). */
export function vaultTls(config: NonNullable<VaultConfig['tls']>): NonNullable<VaultOptions['tls']> {
  const tls: NonNullable<VaultOptions['tls']> = {};
  if (config.ca !== undefined) tls.ca = readCAs(config.ca);
  if (config.cert !== undefined) tls.cert = readKeyFile('keystore.vault.tls.cert', config.cert);
  if (config.key !== undefined) tls.key = readKeyFile('keystore.vault.tls.key', config.key);
  if (config.insecure) tls.insecure = true;
  return tls;
}

/** `keystore.vault`'s login: AppRole, Kubernetes or a token (the Vault PKI issuer reuses it). */
export function vaultAuth(vault: VaultConfig): VaultOptions['auth'] {
  if (vault.approle) {
    const a = vault.approle;
    return { kind: 'approle', engine: a.engine, roleId: a.id, secretId: a.secret, ...(a.namespace !== undefined ? { namespace: a.namespace } : {}) };
  }
  if (vault.kubernetes) {
    const k = vault.kubernetes;
    return { kind: 'kubernetes', engine: k.engine, role: k.role, jwt: k.jwt, ...(k.namespace !== undefined ? { namespace: k.namespace } : {}) };
  }
  return { kind: 'token', token: vault.token as string };
}

function readKeyFile(key: string, path: string): Buffer {
  return readFileOr(path, (code) => new ConfigError(`${key}: cannot read '${path}' (${code})`));
}

/**
 * Opens the configured keystore: the adapter, timed for the metrics, and (for every
 * backend but memory) behind the read cache, kept coherent with the other workers'
 * caches through `replicas` when the server runs several.
 */
export async function openKeyStore(
  config: Config['keystore'],
  cache: Config['cache'],
  metrics?: Metrics,
  log: StoreLog = () => {},
  replicas?: CacheReplicas,
): Promise<KeyStore> {
  const kind = Object.keys(config)[0] ?? '';
  const factory = registry[kind];
  if (!factory) throw new ConfigError(`keystore: '${kind}' is not supported by this build`);
  const adapter = await factory(config, log);
  const store = metrics ? new InstrumentedKeyStore(adapter, (op, s, failed) => metrics.keystoreOp(op, s, failed)) : adapter;
  if (kind === 'memory') return store;
  const credentialsMs = parseDuration(cache.expiry.credentials);
  if (cache.max_bytes === 0) {
    // The cache is off, but for group records, kept no longer than cache.expiry.credentials (0: not
    // at all): a node's fetch then reads its token and the bundle, not its group as well (issue 19).
    if (credentialsMs === 0) return store;
    return new CachedKeyStore(store, {
      anyMs: credentialsMs,
      unusedMs: credentialsMs,
      offlineMs: 0,
      maxBytes: GROUP_CACHE_BYTES,
      only: [GROUP_PREFIX],
      ...(replicas ? { replicas } : {}),
    });
  }
  return new CachedKeyStore(store, {
    anyMs: parseDuration(cache.expiry.any),
    unusedMs: parseDuration(cache.expiry.unused),
    offlineMs: parseDuration(cache.expiry.offline),
    maxBytes: cache.max_bytes,
    shortLived: { prefixes: CREDENTIAL_ENTRY_PREFIXES, anyMs: credentialsMs },
    ...(replicas ? { replicas } : {}),
  });
}

/** With the cache off (`max_bytes: 0`), what is kept of group records: ample for thousands of groups. */
const GROUP_CACHE_BYTES = 4 << 20;

/**
 * The store behind the read cache, or the store itself: for walks over every entry (the
 * housekeeping sweeper, bundle expiry listings) that must neither trust nor displace cached copies.
 */
export function behindCache(store: KeyStore): KeyStore {
  return store instanceof CachedKeyStore ? store.backend : store;
}

/** Cache counters for the metrics, when the store has a cache in front. */
export function cacheStats(store: KeyStore): { hits: number; misses: number; evictions: number } | undefined {
  return store instanceof CachedKeyStore ? store.snapshot() : undefined;
}
