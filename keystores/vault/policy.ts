/**
 * The least Vault ACL policy a keygate needs for its mount, version and
 * prefix — for the README, for operators, and for the tests that prove it is
 * enough (and that it keeps tenants apart).
 */
import { vaultPath } from './options.js';

export interface PolicyScope {
  version: 'v1' | 'v2';
  /** Default 'kv'. */
  engine?: string;
  prefix?: string;
}

/**
 * HCL granting exactly what the adapter does under its folder:
 *
 * - v1: create, read, update, delete, list on `<engine>/<prefix>/*`;
 * - v2: create, read, update on `<engine>/data/<prefix>/*`, and list, delete on
 *   `<engine>/metadata/<prefix>/*` (delete there removes every version).
 *
 * Token renewal and lookup (`auth/token/renew-self`, `lookup-self`,
 * `revoke-self`) come from Vault's built-in `default` policy, which logins
 * attach unless the role sets `token_no_default_policy`. Paths are relative to
 * the namespace the policy is written in.
 */
export function minimalPolicy(scope: PolicyScope): string {
  const engine = vaultPath(scope.engine ?? 'kv', 'engine', false);
  const prefix = vaultPath(scope.prefix ?? '', 'prefix', true);
  const folder = (area: string): string => [engine, area, prefix].filter((s) => s !== '').join('/') + '/*';
  const rule = (path: string, caps: string[]): string => `path "${path}" {\n  capabilities = [${caps.map((c) => `"${c}"`).join(', ')}]\n}\n`;
  if (scope.version === 'v1') return rule(folder(''), ['create', 'read', 'update', 'delete', 'list']);
  return rule(folder('data'), ['create', 'read', 'update']) + rule(folder('metadata'), ['list', 'delete']);
}
