/**
 * The `pki:` section of the server configuration: issuers (a built-in CA whose key
 * lives in the keystore, or Vault's PKI engine) and roles (what may be issued, to
 * whom, for how long). The JSON Schema is merged into the server's (src/config/schema.ts);
 * `checkPkiConfig` adds the rules a schema cannot say and names the offending key.
 */
import { ConfigError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import { duration, nonEmpty, vaultAppRole } from '../../config/schema-parts.js';
import { keyTypes, type KeyType } from '../../pki/keys.js';
import { compileNamePattern } from './names.js';

export type Usage = 'server' | 'client';

export interface BuiltinIssuerConfig {
  /** Subject CN of a CA keygate creates. */
  common_name?: string;
  key_type: KeyType;
  /** Lifetime of a CA keygate creates. */
  ttl: string;
  /** Another builtin issuer that signs this one (an intermediate); unset: a self-signed root. */
  parent?: string;
  /** PEM files of an existing CA (certificate, optionally followed by its chain, and key), stored on first use. */
  import?: { cert: string; key: string };
}

export interface VaultPkiConfig {
  /** Mount path of the PKI engine. */
  mount: string;
  /** The role on Vault's side every keygate role of this issuer signs with (unless the role says `vault_role`). */
  role?: string;
  /** Vault's address; unset: the keystore's Vault connection and authentication. */
  endpoint?: string;
  namespace?: string;
  token?: string;
  approle?: { namespace?: string; engine: string; id: string; secret: string };
  tls?: { ca?: string; insecure?: boolean };
  timeout: string;
}

export interface IssuerConfig {
  builtin?: BuiltinIssuerConfig;
  vault_pki?: VaultPkiConfig;
}

export interface RoleConfig {
  issuer: string;
  allowed_names: string[];
  key_types: KeyType[];
  ttl: string;
  max_ttl: string;
  usage: Usage[];
  allow_ip_sans: boolean;
  /** Groups whose nodes (node token or enrolled certificate) may issue under this role. */
  groups: string[];
  /** The CSR's key must be the caller's own certificate key: an identity certificate renewed with the same key. */
  same_key: boolean;
  /** vault_pki issuers: the Vault role to sign with (default: the issuer's `role`, else this role's name). */
  vault_role?: string;
}

export interface PkiConfig {
  issuers: Record<string, IssuerConfig>;
  roles: Record<string, RoleConfig>;
  /** The issuer `GET /v1/pki/ca` and `/v1/pki/crl` answer for without `?issuer=` (default: the only one). */
  default_issuer?: string;
  /** How often expired certificates leave the issued list and the CRL. */
  tidy_interval: string;
  /** How long a CRL the built-in issuer signs is valid (its nextUpdate). */
  crl_ttl: string;
}

const NAME = '^[0-9A-Za-z_][0-9A-Za-z_-]{0,79}$';
const keyType = { type: 'string', enum: keyTypes } as const;

export const pkiSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuers'],
  properties: {
    issuers: {
      type: 'object',
      propertyNames: { pattern: NAME },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: {
          builtin: {
            type: 'object',
            additionalProperties: false,
            properties: {
              common_name: nonEmpty,
              key_type: { ...keyType, default: 'ecdsa-p256' },
              ttl: { ...duration, default: '87600h' },
              parent: { type: 'string', pattern: NAME },
              import: {
                type: 'object',
                additionalProperties: false,
                required: ['cert', 'key'],
                properties: { cert: nonEmpty, key: nonEmpty },
              },
            },
          },
          vault_pki: {
            type: 'object',
            additionalProperties: false,
            required: ['mount'],
            properties: {
              mount: { type: 'string', pattern: '^[0-9A-Za-z_][0-9A-Za-z_.-]*(/[0-9A-Za-z_][0-9A-Za-z_.-]*)*$' },
              role: { type: 'string', pattern: NAME },
              endpoint: { type: 'string', pattern: '^https?://' },
              namespace: { type: 'string' },
              token: nonEmpty,
              approle: vaultAppRole,
              tls: {
                type: 'object',
                additionalProperties: false,
                properties: { ca: nonEmpty, insecure: { type: 'boolean', default: false } },
              },
              timeout: { ...duration, default: '10s' },
            },
          },
        },
      },
    },
    roles: {
      type: 'object',
      default: {},
      propertyNames: { pattern: NAME },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['issuer', 'allowed_names'],
        properties: {
          issuer: { type: 'string', pattern: NAME },
          allowed_names: { type: 'array', minItems: 1, items: nonEmpty },
          key_types: { type: 'array', minItems: 1, items: keyType, default: ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048', 'rsa-3072', 'rsa-4096'] },
          ttl: { ...duration, default: '1h' },
          max_ttl: { ...duration, default: '24h' },
          usage: { type: 'array', minItems: 1, items: { type: 'string', enum: ['server', 'client'] }, default: ['server'] },
          allow_ip_sans: { type: 'boolean', default: false },
          groups: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
          same_key: { type: 'boolean', default: false },
          vault_role: { type: 'string', pattern: NAME },
        },
      },
    },
    default_issuer: { type: 'string', pattern: NAME },
    tidy_interval: { ...duration, default: '1h' },
    crl_ttl: { ...duration, default: '72h' },
  },
} as const;

type Where = (path: Array<string | number>) => string;

/** Cross-field rules: issuers named by roles and parents exist, TTLs fit, name patterns parse. */
export function checkPkiConfig(pki: PkiConfig | undefined, hasVaultKeystore: boolean, where: Where): void {
  if (!pki) return;
  const issuers = Object.keys(pki.issuers);
  const fail = (path: Array<string | number>, message: string): never => {
    throw new ConfigError(`${where(['pki', ...path])}: ${message}`);
  };
  if (pki.default_issuer !== undefined && !issuers.includes(pki.default_issuer)) fail(['default_issuer'], `no issuer '${pki.default_issuer}'`);
  if (parseDuration(pki.tidy_interval) < 1000) fail(['tidy_interval'], 'must be at least 1s');
  if (parseDuration(pki.crl_ttl) < 60_000) fail(['crl_ttl'], 'must be at least 1m');
  for (const [name, issuer] of Object.entries(pki.issuers)) {
    const b = issuer.builtin;
    if (b?.parent !== undefined) {
      if (b.parent === name) fail(['issuers', name, 'builtin', 'parent'], 'an issuer cannot be its own parent');
      if (!pki.issuers[b.parent]?.builtin) fail(['issuers', name, 'builtin', 'parent'], `no builtin issuer '${b.parent}'`);
      if (b.import) fail(['issuers', name, 'builtin', 'import'], 'an imported CA has its own issuer: leave parent out');
      // A cycle would never finish creating its CAs.
      const seen = new Set([name]);
      for (let p: string | undefined = b.parent; p !== undefined; p = pki.issuers[p]?.builtin?.parent) {
        if (seen.has(p)) fail(['issuers', name, 'builtin', 'parent'], 'parents form a cycle');
        seen.add(p);
      }
    }
    if (b && parseDuration(b.ttl) < 3_600_000) fail(['issuers', name, 'builtin', 'ttl'], 'a CA must live at least 1h');
    const v = issuer.vault_pki;
    if (v && v.endpoint === undefined && !hasVaultKeystore)
      fail(['issuers', name, 'vault_pki', 'endpoint'], 'required unless the keystore is Vault (whose connection is then used)');
    if (v && v.endpoint !== undefined && (v.token === undefined) === (v.approle === undefined))
      fail(['issuers', name, 'vault_pki'], 'a Vault endpoint of its own needs exactly one authentication method: token or approle');
    if (v && v.endpoint === undefined && (v.token !== undefined || v.approle !== undefined || v.tls !== undefined))
      fail(['issuers', name, 'vault_pki', 'endpoint'], 'token, approle and tls go with an endpoint of its own');
  }
  for (const [name, role] of Object.entries(pki.roles)) {
    if (!issuers.includes(role.issuer)) fail(['roles', name, 'issuer'], `no issuer '${role.issuer}'`);
    const ttl = parseDuration(role.ttl);
    const max = parseDuration(role.max_ttl);
    if (max < 10_000) fail(['roles', name, 'max_ttl'], 'must be at least 10s');
    if (ttl < 10_000 || ttl > max) fail(['roles', name, 'ttl'], `must be from 10s to max_ttl (${role.max_ttl})`);
    role.allowed_names.forEach((pattern, i) => {
      try {
        compileNamePattern(pattern);
      } catch (err) {
        fail(['roles', name, 'allowed_names', i], (err as Error).message);
      }
    });
  }
}
