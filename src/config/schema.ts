/**
 * The configuration file's JSON Schema (validated once, at start-up and on reload)
 * and the TypeScript shape it guarantees. Key names follow KES where the two
 * overlap, so a KES server config works unchanged.
 */
import { pkiSchema, type PkiConfig } from '../core/pki/config.js';
import { duration, nonEmpty, vaultAppRole } from './schema-parts.js';

const onOff = { type: 'string', enum: ['on', 'off'] } as const;
const strings = { type: 'array', items: { type: 'string' }, default: [] } as const;

export interface PolicyConfig {
  allow: string[];
  deny: string[];
  identities: string[];
}

export interface VaultConfig {
  endpoint: string;
  /** The other nodes of the same Vault HA cluster, for fail-over (see docs/operations.md). */
  endpoints?: string[];
  engine: string;
  version: 'v1' | 'v2';
  namespace?: string;
  prefix?: string;
  approle?: { namespace?: string; engine: string; id: string; secret: string };
  kubernetes?: { namespace?: string; engine: string; role: string; jwt: string };
  token?: string;
  tls?: { ca?: string; cert?: string; key?: string; insecure?: boolean };
  status?: { ping: string };
  timeout?: string;
}

export interface Config {
  version?: 'v1';
  address: string;
  admin: { identity: string };
  tls: { key: string; cert: string; password?: string; auth: 'on' | 'off'; ca?: string };
  policy_match: 'glob' | 'prefix';
  policy: Record<string, PolicyConfig>;
  cache: { expiry: { any: string; unused: string; offline: string; credentials: string }; max_bytes: number };
  log: { error: string; audit: string; error_file?: string; audit_file?: string };
  keys: Array<{ name: string }>;
  server: { workers: number | 'auto' };
  limits: {
    header_timeout: string;
    request_timeout: string;
    idle_timeout: string;
    shutdown_timeout: string;
    max_header_bytes: number;
    max_connections: number;
    auth_failures: number;
    auth_failure_window: string;
  };
  keystore: { memory?: Record<string, never>; fs?: { path: string }; vault?: VaultConfig };
  /** The RKS-compatible surface's credentials; without them its init and admin login answer 403. */
  rks?: { init_token?: string; admin?: { login: string; password: string }; admin_token_ttl: string };
  /** Where groups' callbacks and OAuth requests may go. */
  callbacks?: { allow_loopback: boolean };
  /** The background sweeper (src/core/sweeper.ts): how often it runs ('0' = never) and how many entries one run reads. */
  housekeeping: { interval: string; batch: number };
  /** Certificate issuers and roles (short-lived certificates, `/v1/pki/...`). */
  pki?: PkiConfig;
}

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['admin', 'tls', 'keystore'],
  properties: {
    version: { type: 'string', enum: ['v1'] },
    address: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]*):[0-9]{1,5}$', default: '0.0.0.0:7373' },
    admin: {
      type: 'object',
      additionalProperties: false,
      required: ['identity'],
      properties: { identity: nonEmpty },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'cert'],
      properties: {
        key: nonEmpty,
        cert: nonEmpty,
        password: { type: 'string' },
        auth: { ...onOff, default: 'off' },
        ca: nonEmpty,
      },
    },
    policy_match: { type: 'string', enum: ['glob', 'prefix'], default: 'glob' },
    policy: {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[0-9A-Za-z_-]{1,80}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { allow: strings, deny: strings, identities: strings },
      },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        expiry: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            any: { ...duration, default: '5m' },
            unused: { ...duration, default: '30s' },
            offline: { ...duration, default: '0' },
            // Tokens, groups, nodes, enrollments and bans: how soon a revocation through one
            // replica holds on every other (each serves those entries from cache at most this long).
            credentials: { ...duration, default: '10s' },
          },
        },
        max_bytes: { type: 'integer', minimum: 0, default: 67108864 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        error: { type: 'string', pattern: '^(on|off|debug|info|warn|error|DEBUG|INFO|WARN|ERROR)$', default: 'on' },
        audit: { type: 'string', pattern: '^(on|off|debug|info|warn|error|DEBUG|INFO|WARN|ERROR)$', default: 'on' },
        error_file: nonEmpty,
        audit_file: nonEmpty,
      },
    },
    keys: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: nonEmpty },
      },
    },
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        workers: {
          anyOf: [
            { type: 'integer', minimum: 1, maximum: 256 },
            { type: 'string', const: 'auto' },
          ],
          default: 1,
        },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        header_timeout: { ...duration, default: '5s' },
        request_timeout: { ...duration, default: '15s' },
        idle_timeout: { ...duration, default: '90s' },
        shutdown_timeout: { ...duration, default: '10s' },
        max_header_bytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 16384 },
        max_connections: { type: 'integer', minimum: 1, default: 4096 },
        auth_failures: { type: 'integer', minimum: 0, default: 100 },
        auth_failure_window: { ...duration, default: '1m' },
      },
    },
    pki: pkiSchema,
    housekeeping: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        interval: { ...duration, default: '10m' },
        batch: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
      },
    },
    callbacks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // Off by default: whoever may set a group's callback URL could otherwise make the
        // server call services listening only on this host.
        allow_loopback: { type: 'boolean', default: false },
      },
    },
    rks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        init_token: nonEmpty,
        admin: {
          type: 'object',
          additionalProperties: false,
          required: ['login', 'password'],
          properties: { login: nonEmpty, password: nonEmpty },
        },
        admin_token_ttl: { ...duration, default: '1h' },
      },
    },
    keystore: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        memory: { type: 'object', additionalProperties: false, properties: {} },
        fs: {
          type: 'object',
          additionalProperties: false,
          required: ['path'],
          properties: { path: nonEmpty },
        },
        vault: {
          type: 'object',
          additionalProperties: false,
          required: ['endpoint'],
          properties: {
            endpoint: { type: 'string', pattern: '^https?://' },
            endpoints: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: '^https?://' } },
            engine: { ...nonEmpty, default: 'kv' },
            version: { type: 'string', enum: ['v1', 'v2'], default: 'v1' },
            namespace: { type: 'string' },
            prefix: { type: 'string' },
            token: nonEmpty,
            approle: vaultAppRole,
            kubernetes: {
              type: 'object',
              additionalProperties: false,
              required: ['role', 'jwt'],
              properties: { namespace: { type: 'string' }, engine: { ...nonEmpty, default: 'kubernetes' }, role: nonEmpty, jwt: nonEmpty },
            },
            tls: {
              type: 'object',
              additionalProperties: false,
              properties: { ca: nonEmpty, cert: nonEmpty, key: nonEmpty, insecure: { type: 'boolean', default: false } },
            },
            status: {
              type: 'object',
              additionalProperties: false,
              properties: { ping: { ...duration, default: '10s' } },
            },
            timeout: { ...duration, default: '10s' },
          },
        },
      },
    },
  },
} as const;
