/** Builds the immutable State snapshot from a validated configuration. */
import { Policy } from '../policy/index.js';
import { isHexIdentity } from '../auth/identity.js';
import { KeyService } from '../core/keys.js';
import type { Config } from '../config/schema.js';
import type { State } from '../server/state.js';
import type { KeyStore } from '../../keystores/keystore.js';
import { Logger, openLogFile, parseLogSetting } from '../log/logger.js';

export function buildState(config: Config, store: KeyStore, logger: Logger): State {
  const policies = new Map<string, Policy>();
  const identities = new Map<string, Policy>();
  for (const [name, rules] of Object.entries(config.policy)) {
    const policy = new Policy(name, { allow: rules.allow, deny: rules.deny }, config.policy_match);
    policies.set(name, policy);
    for (const id of rules.identities) identities.set(id, policy);
  }
  return {
    admin: isHexIdentity(config.admin.identity) ? config.admin.identity : null,
    adminName: config.admin.identity,
    policies,
    identities,
    createdAt: new Date(),
    store,
    keys: new KeyService(store),
    logger,
  };
}

export function buildLogger(log: Config['log']): Logger {
  const audit = parseLogSetting(log.audit);
  const error = parseLogSetting(log.error);
  return new Logger({
    audit: audit === null ? null : log.audit_file !== undefined ? openLogFile(log.audit_file) : process.stdout,
    error: error === null ? null : log.error_file !== undefined ? openLogFile(log.error_file) : process.stderr,
    level: error ?? 'error',
  });
}
