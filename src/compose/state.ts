/** Builds the immutable State snapshot from a validated configuration. */
import { Policy } from '../policy/index.js';
import { isHexIdentity } from '../auth/identity.js';
import { KeyService } from '../core/keys/service.js';
import { BundleService } from '../core/bundles/service.js';
import { BundleChanges } from '../core/bundles/changes.js';
import { createFleet } from '../core/fleet/fleet.js';
import { NotFoundError, BadRequestError } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { State } from '../server/state.js';
import type { KeyStore } from '../../keystores/keystore.js';
import { Logger, openLogFile, parseLogSetting } from '../log/logger.js';
import { rksSettings } from '../api/rks/settings.js';
import { buildPki } from './pki.js';
import { behindCache } from './registry.js';

export function buildState(config: Config, store: KeyStore, logger: Logger, bundleChanges = new BundleChanges()): State {
  const policies = new Map<string, Policy>();
  const identities = new Map<string, Policy>();
  for (const [name, rules] of Object.entries(config.policy)) {
    const policy = new Policy(name, { allow: rules.allow, deny: rules.deny }, config.policy_match);
    policies.set(name, policy);
    for (const id of rules.identities) identities.set(id, policy);
  }
  // Bundles ask groups who may read them; groups ask bundles what exists: tie the knot lazily.
  const fleet = createFleet(store, { exists: (name) => bundleExists(bundles, name) }, { allowLoopbackCallbacks: config.callbacks?.allow_loopback === true });
  const bundles = new BundleService(store, fleet.access, { walkStore: behindCache(store) });
  return {
    admin: isHexIdentity(config.admin.identity) ? config.admin.identity : null,
    adminName: config.admin.identity,
    policies,
    identities,
    createdAt: new Date(),
    store,
    keys: new KeyService(store),
    bundles,
    bundleChanges,
    access: fleet.access,
    tokens: fleet.tokens,
    groups: fleet.groups,
    nodes: fleet.nodes,
    rks: rksSettings(config),
    pki: buildPki(config, store, logger),
    logger,
  };
}

/**
 * Whether a bundle exists, for assignments (invalid names exist as little as missing ones).
 * `get` is one keystore read; describe would also scan the groups.
 */
async function bundleExists(bundles: BundleService, name: string): Promise<boolean> {
  try {
    await bundles.get(name);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof BadRequestError) return false;
    throw err;
  }
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
