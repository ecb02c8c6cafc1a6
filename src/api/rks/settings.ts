/** Resolves the config's `rks:` section into the State's RksSettings (at start-up and on reload). */
import { scryptSync } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import type { Config } from '../../config/schema.js';
import type { RksSettings } from '../../server/state.js';
import { MAX_TOKEN_TTL } from '../../core/fleet/group-settings.js';

const MIN_ADMIN_TTL = 60;

/** @throws ConfigError when `rks.admin_token_ttl` is outside 1m–744h (31 days). */
export function rksSettings(config: Config): RksSettings {
  const rks = config.rks;
  const ttl = Math.floor(parseDuration(rks?.admin_token_ttl ?? '1h') / 1000);
  if (ttl < MIN_ADMIN_TTL || ttl > MAX_TOKEN_TTL) {
    throw new ConfigError(`rks.admin_token_ttl: must be from 1m to ${MAX_TOKEN_TTL / 3600}h`);
  }
  return {
    initToken: rks?.init_token ?? null,
    admin: rks?.admin ? { login: rks.admin.login, password: rks.admin.password, generation: adminGeneration(rks.admin.login, rks.admin.password) } : null,
    adminTokenTtl: ttl,
    vaultAddress: config.keystore.vault?.endpoint ?? '',
  };
}

/**
 * The generation admin tokens are issued under. It is stored with every token, so it
 * must not reveal the password: scrypt makes guessing it from a stolen keystore as slow
 * as guessing any stored password hash. Computed once per start or reload.
 */
function adminGeneration(login: string, password: string): string {
  return 'rks-admin:' + scryptSync(password, `keygate rks admin generation\0${login}`, 16).toString('hex');
}
