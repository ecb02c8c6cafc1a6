/**
 * The Vault keystore's own options. The config layer maps `keystore.vault` onto
 * this type; nothing here depends on it, so the adapter can be used (and
 * tested) on its own.
 */
import { StoreError } from '../keystore.js';

/** How keygate obtains its Vault token. */
export type VaultAuth =
  /** A token issued out of band. It is renewed when renewable but can never be re-issued. */
  | { kind: 'token'; token: string }
  /**
   * `POST auth/<engine>/login {role_id, secret_id}`. `namespace` is where the auth
   * mount lives: unset = the keystore's namespace, '/' = the root namespace.
   */
  | { kind: 'approle'; engine: string; roleId: string; secretId: string; namespace?: string }
  /**
   * `POST auth/<engine>/login {role, jwt}`. `jwt` is the service-account JWT itself, or,
   * when it contains '/', the path of a file holding it — re-read at every login because
   * projected service-account tokens rotate.
   */
  | { kind: 'kubernetes'; engine: string; role: string; jwt: string; namespace?: string };

/** TLS to Vault. Only valid with an https endpoint. */
export interface VaultTlsOptions {
  /** Trusted CA certificates (PEM); the system roots when unset. */
  ca?: Buffer[];
  /** Client certificate and key (PEM) for mTLS to Vault; both or neither. */
  cert?: Buffer;
  key?: Buffer;
  /** Skips server certificate verification. For tests only. */
  insecure?: boolean;
}

export type VaultLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface VaultOptions {
  /** Vault's base URL, e.g. `https://vault.example.com:8200`. */
  endpoint: string;
  /**
   * The other nodes of the same Vault HA cluster (integrated storage or another HA
   * backend), tried after `endpoint` when it cannot serve (see http.ts). Listing
   * `endpoint` here again is allowed: each node is kept once, in first-seen order.
   */
  endpoints?: string[];
  /** Mount path of the KV engine. Default 'kv'. */
  engine?: string;
  version: 'v1' | 'v2';
  /** Vault namespace of the KV mount (Enterprise/OpenBao); '' or unset = root. */
  namespace?: string;
  /** Folder inside the mount that holds this keygate's entries ('a/b' allowed). */
  prefix?: string;
  auth: VaultAuth;
  tls?: VaultTlsOptions;
  /** How often `sys/health` is probed. Default 10 000. */
  pingIntervalMs?: number;
  /** Upper bound of one HTTP round trip to Vault. Default 10 000. */
  timeoutMs?: number;
  /**
   * Receives operational messages ("vault: …"). Messages never contain a token,
   * secret ID, JWT or stored value.
   */
  log?: (level: VaultLogLevel, message: string) => void;
}

/** Options after defaults and validation; what the adapter's modules consume. */
export interface ResolvedVaultOptions {
  /** The first of `endpoints`. */
  endpoint: URL;
  /** `endpoint` then the other `endpoints`, each once, all of one protocol. */
  endpoints: URL[];
  engine: string;
  version: 'v1' | 'v2';
  /** Canonical: no leading or trailing '/'; '' = root. */
  namespace: string;
  /** Canonical: no leading or trailing '/'; '' = none. */
  prefix: string;
  auth: VaultAuth;
  tls: VaultTlsOptions;
  pingIntervalMs: number;
  timeoutMs: number;
  log: (level: VaultLogLevel, message: string) => void;
}

export const DEFAULT_ENGINE = 'kv';
export const DEFAULT_PING_INTERVAL_MS = 10_000;
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Longest delay a Node timer honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SEGMENT = /^[0-9A-Za-z_.\-+@=]+$/;

/**
 * Applies defaults and checks everything that can be checked without Vault.
 * Throws StoreError("vault: …") naming the offending option.
 */
export function resolveOptions(options: VaultOptions): ResolvedVaultOptions {
  const endpoints: URL[] = [];
  for (const url of [options.endpoint, ...(options.endpoints ?? [])].map(endpointURL)) {
    if (!endpoints.some((e) => e.href === url.href)) endpoints.push(url);
  }
  const endpoint = endpoints[0] as URL;
  if (endpoints.some((url) => url.protocol !== endpoint.protocol)) throw new StoreError('vault: endpoints must all be http or all https');
  const tls = options.tls ?? {};
  const usesTLS = tls.ca !== undefined || tls.cert !== undefined || tls.key !== undefined || tls.insecure === true;
  if (usesTLS && endpoint.protocol !== 'https:') throw new StoreError('vault: tls options need an https endpoint');
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new StoreError('vault: tls cert and key must be given together');

  let auth = options.auth;
  switch (auth.kind) {
    case 'token':
      if (auth.token === '') throw new StoreError('vault: auth token is empty');
      break;
    case 'approle':
      if (auth.roleId === '' || auth.secretId === '') throw new StoreError('vault: approle role ID and secret ID are required');
      auth = { ...auth, engine: vaultPath(auth.engine, 'approle engine', false) };
      break;
    case 'kubernetes':
      if (auth.role === '' || auth.jwt === '') throw new StoreError('vault: kubernetes role and jwt are required');
      auth = { ...auth, engine: vaultPath(auth.engine, 'kubernetes engine', false) };
      break;
  }
  const pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const inRange = (ms: number): boolean => Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS;
  if (!inRange(pingIntervalMs) || !inRange(timeoutMs)) throw new StoreError(`vault: pingIntervalMs and timeoutMs must be between 1 and ${MAX_TIMER_MS}`);

  return {
    endpoint,
    endpoints,
    engine: vaultPath(options.engine ?? DEFAULT_ENGINE, 'engine', false),
    version: options.version,
    namespace: namespacePath(options.namespace ?? ''),
    prefix: vaultPath(options.prefix ?? '', 'prefix', true),
    auth,
    tls,
    pingIntervalMs,
    timeoutMs,
    log: options.log ?? (() => {}),
  };
}

/** One Vault base URL: http or https, without credentials, query or fragment. */
function endpointURL(text: string): URL {
  let endpoint: URL;
  try {
    endpoint = new URL(text);
  } catch {
    throw new StoreError(`vault: endpoint '${text}' is not a URL`);
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
    throw new StoreError(`vault: endpoint '${text}' must be http or https`);
  }
  if (endpoint.username !== '' || endpoint.password !== '' || endpoint.search !== '' || endpoint.hash !== '') {
    throw new StoreError('vault: endpoint must not carry credentials, a query or a fragment');
  }
  return endpoint;
}

/**
 * A Vault namespace as sent in `X-Vault-Namespace`: '' and '/' both mean root
 * (no header), surrounding slashes are dropped.
 */
export function namespacePath(ns: string): string {
  const trimmed = ns.replace(/^\/+|\/+$/g, '');
  if (trimmed !== '') vaultPath(trimmed, 'namespace', false);
  return trimmed;
}

/**
 * A mount path or prefix without surrounding slashes. Segments are restricted
 * so a configured path can never climb out of its folder ('..') or need
 * URL escaping that Vault and its ACLs would see differently.
 */
export function vaultPath(path: string, what: string, emptyOK: boolean): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') {
    if (emptyOK) return '';
    throw new StoreError(`vault: ${what} is empty`);
  }
  for (const segment of trimmed.split('/')) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new StoreError(`vault: ${what} '${path}' has an invalid segment '${segment}'`);
    }
  }
  return trimmed;
}
