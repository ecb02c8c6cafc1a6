/**
 * Cross-field rules the JSON Schema cannot express. Each check throws a
 * ConfigError that names the offending key.
 */
import { ConfigError } from '../errors.js';
import { compilePattern, PatternError } from '../policy/index.js';
import { isValidName } from '../core/names.js';
import { parseDuration } from './duration.js';
import { checkPkiConfig } from '../core/pki/config.js';
import type { Config } from './schema.js';

type Where = (path: Array<string | number>) => string;

export function checkConfig(config: Config, where: Where): void {
  const port = addressProblem(config.address);
  if (port !== undefined) throw new ConfigError(`${where(['address'])}: ${port}`);
  // Without a CA every client certificate fails the handshake, and a failed handshake is dropped
  // without a word: the server would look up and refuse everyone.
  if (config.tls.auth === 'on' && config.tls.ca === undefined) {
    throw new ConfigError(`${where(['tls', 'auth'])}: 'on' needs tls.ca, the CA certificates client certificates are verified against (or set tls.auth: off)`);
  }
  checkPolicies(config, where);
  checkDurations(config, where);
  checkVault(config, where);
  checkPkiConfig(config.pki, config.keystore.vault !== undefined, where);
  if (config.keystore.memory && config.server.workers !== 1) {
    throw new ConfigError(`${where(['server', 'workers'])}: the memory keystore cannot be shared by several workers; use 1 worker or another keystore`);
  }
  config.keys.forEach((k, i) => {
    if (!isValidName(k.name)) throw new ConfigError(`${where(['keys', i, 'name'])}: invalid key name '${k.name}'`);
  });
  const seen = new Set<string>();
  config.keys.forEach((k, i) => {
    if (seen.has(k.name)) throw new ConfigError(`${where(['keys', i, 'name'])}: key '${k.name}' is listed twice`);
    seen.add(k.name);
  });
}

/**
 * What is wrong with a `host:port` listen address, in words a user can act on (undefined when
 * nothing is): Node's own message for a port out of range names an option the user never set.
 */
export function addressProblem(address: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]*):([0-9]+)$/.exec(address);
  if (!m) return `invalid address '${address}': expected host:port, e.g. 127.0.0.1:7373 or [::1]:7373`;
  const port = Number(m[2]);
  if (port > 65535) return `port ${m[2]} is out of range: use 1-65535, or 0 for any free port`;
  return undefined;
}

function checkPolicies(config: Config, where: Where): void {
  const owner = new Map<string, string>();
  for (const [name, policy] of Object.entries(config.policy)) {
    for (const kind of ['allow', 'deny'] as const) {
      policy[kind].forEach((pattern, i) => {
        try {
          compilePattern(pattern, config.policy_match);
        } catch (err) {
          if (err instanceof PatternError) throw new ConfigError(`${where(['policy', name, kind, i])}: ${err.message}`);
          throw err;
        }
      });
    }
    policy.identities.forEach((id, i) => {
      const at = where(['policy', name, 'identities', i]);
      if (id === '') throw new ConfigError(`${at}: empty identity`);
      if (id === config.admin.identity) throw new ConfigError(`${at}: the admin identity cannot be assigned a policy`);
      const previous = owner.get(id);
      if (previous !== undefined) {
        throw new ConfigError(`${at}: identity already has a policy ('${previous}')`);
      }
      owner.set(id, name);
    });
  }
}

function checkDurations(config: Config, where: Where): void {
  const { any, unused, offline, credentials } = config.cache.expiry;
  const pairs: Array<[Array<string>, string]> = [
    [['cache', 'expiry', 'any'], any],
    [['cache', 'expiry', 'unused'], unused],
    [['cache', 'expiry', 'offline'], offline],
    [['cache', 'expiry', 'credentials'], credentials],
    [['limits', 'header_timeout'], config.limits.header_timeout],
    [['limits', 'request_timeout'], config.limits.request_timeout],
    [['limits', 'idle_timeout'], config.limits.idle_timeout],
    [['limits', 'auth_failure_window'], config.limits.auth_failure_window],
  ];
  for (const [path, value] of pairs) {
    try {
      parseDuration(value);
    } catch (err) {
      throw new ConfigError(`${where(path)}: ${(err as Error).message}`);
    }
  }
  // Node refuses a header timeout longer than the request timeout (0 = none) with a RangeError at start-up.
  const request = parseDuration(config.limits.request_timeout);
  if (request > 0 && parseDuration(config.limits.header_timeout) > request) {
    throw new ConfigError(`${where(['limits', 'header_timeout'])}: must not be longer than limits.request_timeout`);
  }
  // Vault's timers: a 0 would spin, and anything past 2^31-1 ms overflows to 1 ms.
  const vault = config.keystore.vault;
  const timers: Array<[Array<string>, string | undefined]> = [
    [['keystore', 'vault', 'status', 'ping'], vault?.status?.ping],
    [['keystore', 'vault', 'timeout'], vault?.timeout],
  ];
  for (const [path, value] of timers) {
    const ms = value === undefined ? 1 : parseDuration(value);
    if (ms < 1 || ms > MAX_TIMER_MS) throw new ConfigError(`${where(path)}: must be between 1ms and 596h`);
  }
}

/** Longest delay a Node.js timer takes (2^31-1 ms, about 596 hours). */
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkVault(config: Config, where: Where): void {
  const vault = config.keystore.vault;
  if (!vault) return;
  const methods = (['token', 'approle', 'kubernetes'] as const).filter((m) => vault[m] !== undefined);
  if (methods.length !== 1) {
    throw new ConfigError(
      `${where(['keystore', 'vault'])}: exactly one authentication method is required (token, approle or kubernetes), found ${methods.length === 0 ? 'none' : methods.join(', ')}`,
    );
  }
  if ((vault.tls?.cert === undefined) !== (vault.tls?.key === undefined)) {
    throw new ConfigError(`${where(['keystore', 'vault', 'tls'])}: cert and key must be given together`);
  }
}
