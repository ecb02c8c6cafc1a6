/**
 * The `token_*` fields every Vault auth role carries (Vault's tokenutil), shared
 * by the AppRole and Kubernetes roles. The plugins' legacy aliases (`policies`,
 * `ttl`, `period`, …) differ between them and stay in each plugin.
 */
import { fieldBool, fieldInt, fieldString, fieldStrings, parseDuration } from './util.js';

export interface TokenFields {
  tokenPolicies: string[];
  tokenTtl: number;
  tokenMaxTtl: number;
  tokenExplicitMaxTtl: number;
  tokenPeriod: number;
  tokenNumUses: number;
  tokenNoDefaultPolicy: boolean;
  tokenType: string;
  tokenBoundCidrs: string[];
}

/** A new role's token fields, as Vault fills them. */
export function defaultTokenFields(): TokenFields {
  return {
    tokenPolicies: [],
    tokenTtl: 0,
    tokenMaxTtl: 0,
    tokenExplicitMaxTtl: 0,
    tokenPeriod: 0,
    tokenNumUses: 0,
    tokenNoDefaultPolicy: false,
    tokenType: 'default',
    tokenBoundCidrs: [],
  };
}

/** Reads the token fields that have no legacy alias in any plugin; throws on a malformed value. */
export function parseTokenFields(r: TokenFields, d: Record<string, unknown>): void {
  const has = (k: string): boolean => d[k] !== undefined;
  if (has('token_explicit_max_ttl')) r.tokenExplicitMaxTtl = parseDuration(d['token_explicit_max_ttl']);
  if (has('token_num_uses')) r.tokenNumUses = fieldInt(d['token_num_uses'], 0);
  if (has('token_no_default_policy')) r.tokenNoDefaultPolicy = fieldBool(d['token_no_default_policy'], false);
  if (has('token_type')) r.tokenType = fieldString(d['token_type']);
  if (has('token_bound_cidrs')) r.tokenBoundCidrs = fieldStrings(d['token_bound_cidrs']);
}
