/**
 * The agent's configuration file (`agent.yml`): YAML validated once at start-up by
 * the same machinery as the server's (src/config/load.ts), so errors name the file,
 * the line and the key. `resolveSettings` turns it into the runtime settings the
 * agent uses (durations in milliseconds, one credential mode).
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { compileConfigSchema, parseYamlConfig, readConfigText, type Where } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { isValidBundleName } from '../core/bundles/names.js';
import { keyTypes, type KeyType } from '../pki/keys.js';
import { resolve } from 'node:path';
import type { Level } from '../log/logger.js';

export interface AgentConfig {
  /** The keygate server, `https://host:port`. */
  server: string;
  tls: { ca?: string; cert?: string; key?: string; insecure: boolean };
  /** Registration or enrollment with a group token; absent = the client certificate alone. */
  node?: { group: string; group_token: string; id?: string; enroll: boolean };
  /** Bundle names, or `all`: every bundle the node may read. Optional when `certificates` are listed. */
  bundles?: string[] | 'all';
  output: { dir: string; combined: boolean; remove_revoked: boolean };
  reload: { command?: string | string[]; timeout: string };
  refresh: { jitter: number; retry_min: string; retry_max: string; timeout: string; list_interval: string; watch: boolean };
  status: { address?: string };
  log: { level: Level };
  /** Certificates the agent has issued for it (key made here, CSR signed by `PUT /v1/pki/sign/<role>`). */
  certificates: CertificateConfig[];
}

export interface CertificateConfig {
  /** File stem: `<dir>/<name>.crt` (certificate and chain) and `<dir>/<name>.key`. */
  name: string;
  role: string;
  common_name: string;
  alt_names: string[];
  ip_sans: string[];
  key_type: KeyType;
  ttl: string;
  /** Default: output.dir. */
  dir?: string;
  revoke_on_exit: boolean;
}

const text = { type: 'string', minLength: 1 } as const;
const duration = { type: 'string', minLength: 1 } as const; // parsed (and explained) by checkAgentConfig

export const agentConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'output'],
  properties: {
    server: { type: 'string', pattern: '^https://[^/?#\\s]+/?$' },
    tls: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { ca: text, cert: text, key: text, insecure: { type: 'boolean', default: false } },
    },
    node: {
      type: 'object',
      additionalProperties: false,
      required: ['group', 'group_token'],
      properties: { group: text, group_token: text, id: text, enroll: { type: 'boolean', default: false } },
    },
    bundles: {
      anyOf: [
        { type: 'string', const: 'all' },
        { type: 'array', minItems: 1, items: { type: 'string' } },
      ],
    },
    output: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      properties: { dir: text, combined: { type: 'boolean', default: false }, remove_revoked: { type: 'boolean', default: true } },
    },
    reload: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        command: { anyOf: [text, { type: 'array', minItems: 1, items: text }] },
        timeout: { ...duration, default: '30s' },
      },
    },
    refresh: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        jitter: { type: 'number', minimum: 0, maximum: 0.5, default: 0.1 },
        retry_min: { ...duration, default: '1s' },
        retry_max: { ...duration, default: '5m' },
        timeout: { ...duration, default: '30s' },
        list_interval: { ...duration, default: '1m' },
        watch: { type: 'boolean', default: true },
      },
    },
    status: { type: 'object', additionalProperties: false, default: {}, properties: { address: text } },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { level: { type: 'string', enum: ['debug', 'info', 'warn', 'error'], default: 'info' } },
    },
    certificates: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role', 'common_name'],
        properties: {
          name: text,
          role: text,
          common_name: text,
          alt_names: { type: 'array', default: [], items: text },
          ip_sans: { type: 'array', default: [], items: text },
          key_type: { type: 'string', enum: [...keyTypes], default: 'ecdsa-p256' },
          ttl: { ...duration, default: '1h' },
          dir: text,
          revoke_on_exit: { type: 'boolean', default: false },
        },
      },
    },
  },
} as const;

const validate = compileConfigSchema(agentConfigSchema);

/** Reads and validates an agent configuration file. @throws ConfigError naming the file, line and key */
export function loadAgentConfig(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return parseAgentConfig(readConfigText(file), file, env);
}

/** Parses agent configuration text; `file` only labels error messages. */
export function parseAgentConfig(yamlText: string, file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return parseYamlConfig<AgentConfig>(yamlText, file, validate, env, checkAgentConfig);
}

/** Cross-field rules the schema cannot express. */
function checkAgentConfig(c: AgentConfig, where: Where): void {
  const durations: Array<[string, string, string]> = [
    ['reload', 'timeout', c.reload.timeout],
    ['refresh', 'retry_min', c.refresh.retry_min],
    ['refresh', 'retry_max', c.refresh.retry_max],
    ['refresh', 'timeout', c.refresh.timeout],
    ['refresh', 'list_interval', c.refresh.list_interval],
  ];
  for (const [section, key, value] of durations) {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      throw new ConfigError(`${where([section, key])}: ${(err as Error).message}`);
    }
    if (ms <= 0) throw new ConfigError(`${where([section, key])}: must be longer than 0`);
  }
  if (parseDuration(c.refresh.retry_min) > parseDuration(c.refresh.retry_max)) {
    throw new ConfigError(`${where(['refresh', 'retry_min'])}: must not exceed refresh.retry_max`);
  }
  if ((c.tls.cert === undefined) !== (c.tls.key === undefined)) {
    throw new ConfigError(`${where(['tls'])}: cert and key must be given together`);
  }
  if (!c.node && c.tls.cert === undefined) {
    throw new ConfigError(`${where([])}: no credential: set tls.cert and tls.key (client certificate) or node.group_token`);
  }
  if (c.node?.enroll && c.tls.cert === undefined) {
    throw new ConfigError(`${where(['node', 'enroll'])}: enrollment enrolls the client certificate: set tls.cert and tls.key`);
  }
  if (c.node && !c.node.enroll && c.node.id === undefined) {
    throw new ConfigError(`${where(['node'])}: node.id is required to register with a group token`);
  }
  if (c.bundles === undefined && c.certificates.length === 0) {
    throw new ConfigError(`${where(['bundles'])}: required key is missing (list bundles, certificates, or both)`);
  }
  if (c.bundles !== undefined && c.bundles !== 'all') checkBundleNames(c.bundles, where);
  if (c.status.address !== undefined) parseLoopbackAddress(c.status.address, where(['status', 'address']));
  checkCertificates(c, where);
}

/** Template variables of certificate names, from the node's own settings. */
function templateValues(c: AgentConfig): Record<string, string | undefined> {
  return { node_id: c.node?.id, group: c.node?.group };
}

/**
 * `{{node_id}}` and `{{group}}` replaced by the node's id and group (the identity the server
 * binds role templates to). @throws Error naming an unknown variable or one this node has no value for
 */
export function expandTemplate(template: string, values: Record<string, string | undefined>): string {
  return template.replace(/\{\{\s*([^{}]*?)\s*\}\}/g, (_m, name: string) => {
    if (!Object.hasOwn(values, name)) throw new Error(`unknown template variable '{{${name.slice(0, 40)}}}' (known: {{node_id}}, {{group}})`);
    const value = values[name];
    if (value === undefined) throw new Error(`{{${name}}} needs node.${name === 'node_id' ? 'id' : 'group'} to be set`);
    return value;
  });
}

/** A DNS name a certificate can carry: printable ASCII labels, an optional leading '*.'. */
const DNS_NAME = /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

function checkCertificates(c: AgentConfig, where: Where): void {
  const values = templateValues(c);
  const names = new Set<string>();
  const outputDir = resolve(c.output.dir);
  c.certificates.forEach((cert, i) => {
    const at = (...path: Array<string | number>) => where(['certificates', i, ...path]);
    if (!isValidBundleName(cert.name) || cert.name.startsWith('*.'))
      throw new ConfigError(`${at('name')}: invalid file name '${cert.name.slice(0, 100)}' (letters, digits, '.', '_', '-')`);
    const dir = resolve(cert.dir ?? c.output.dir);
    if (names.has(cert.name)) throw new ConfigError(`${at('name')}: certificate '${cert.name}' is listed twice`);
    names.add(cert.name);
    if (dir === outputDir && c.bundles === 'all') {
      throw new ConfigError(`${at('dir')}: with 'bundles: all' the agent owns every file of output.dir; set certificates[${i}].dir to another directory`);
    }
    if (dir === outputDir && Array.isArray(c.bundles) && c.bundles.includes(cert.name)) {
      throw new ConfigError(`${at('name')}: '${cert.name}' is also a bundle of output.dir; choose another name or dir`);
    }
    for (const [key, template] of [['common_name', cert.common_name], ...cert.alt_names.map((n, j) => [['alt_names', j], n] as const)] as const) {
      const path = Array.isArray(key) ? key : [key];
      let name: string;
      try {
        name = expandTemplate(template, values);
      } catch (err) {
        throw new ConfigError(`${at(...path)}: ${(err as Error).message}`);
      }
      if (!DNS_NAME.test(name) || name.length > 253) throw new ConfigError(`${at(...path)}: '${name.slice(0, 100)}' is not a DNS name`);
    }
    cert.ip_sans.forEach((ip, j) => {
      if (isIP(ip) === 0) throw new ConfigError(`${at('ip_sans', j)}: '${ip.slice(0, 100)}' is not an IP address`);
    });
    let ttl: number;
    try {
      ttl = parseDuration(cert.ttl);
    } catch (err) {
      throw new ConfigError(`${at('ttl')}: ${(err as Error).message}`);
    }
    if (ttl < MIN_CERTIFICATE_TTL_MS) throw new ConfigError(`${at('ttl')}: must be at least 10s`);
  });
}

/** Shortest lifetime asked for: renewal at two-thirds must leave time for a request and a reload. */
const MIN_CERTIFICATE_TTL_MS = 10_000;

function checkBundleNames(names: string[], where: Where): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (!isValidBundleName(name)) throw new ConfigError(`${where(['bundles', i])}: invalid bundle name '${name.slice(0, 100)}'`);
    if (seen.has(name)) throw new ConfigError(`${where(['bundles', i])}: bundle '${name}' is listed twice`);
    seen.add(name);
  });
}

/**
 * `host:port` of the status endpoint; only loopback hosts are accepted, since the
 * endpoint names every bundle and has no authentication.
 */
export function parseLoopbackAddress(address: string, label: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):([0-9]{1,5})$/.exec(address);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new ConfigError(`${label}: expected host:port, e.g. 127.0.0.1:9273`);
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  if (!isLoopback(host)) throw new ConfigError(`${label}: the status endpoint listens on loopback only (127.0.0.1, ::1 or localhost)`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '::ffff:127.0.0.1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** What the agent runs on: durations in milliseconds, the credential mode decided. */
export interface AgentSettings {
  server: string;
  tls: { ca?: string; cert?: string; key?: string; insecure: boolean };
  /** `certificate`: the client certificate alone; `register`: a node token; `enroll`: enroll the certificate, then read with it. */
  auth:
    | { mode: 'certificate' }
    | { mode: 'register'; group: string; groupToken: string; nodeId: string }
    | { mode: 'enroll'; group: string; groupToken: string; nodeId?: string };
  bundles: string[] | 'all';
  output: { dir: string; combined: boolean; removeRevoked: boolean };
  reload: { command?: string | string[]; timeoutMs: number };
  refresh: { jitter: number; retryMinMs: number; retryMaxMs: number; timeoutMs: number; listIntervalMs: number; watch: boolean };
  status?: { host: string; port: number };
  logLevel: Level;
  /** Certificates issued for this node (absent or empty: none). */
  certificates?: CertificateSettings[];
}

/** One `certificates:` entry, templates expanded. */
export interface CertificateSettings {
  name: string;
  role: string;
  commonName: string;
  /** DNS names asked for in the CSR, the common name first. */
  dnsNames: string[];
  ipAddresses: string[];
  keyType: KeyType;
  /** As configured (sent to the server as written), and in milliseconds. */
  ttl: string;
  ttlMs: number;
  dir: string;
  revokeOnExit: boolean;
}

export function resolveSettings(c: AgentConfig): AgentSettings {
  const opt = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));
  let auth: AgentSettings['auth'] = { mode: 'certificate' };
  if (c.node?.enroll) auth = { mode: 'enroll', group: c.node.group, groupToken: c.node.group_token, ...opt('nodeId', c.node.id) };
  else if (c.node) auth = { mode: 'register', group: c.node.group, groupToken: c.node.group_token, nodeId: c.node.id ?? '' };
  return {
    server: c.server.replace(/\/$/, ''),
    tls: { ...opt('ca', c.tls.ca), ...opt('cert', c.tls.cert), ...opt('key', c.tls.key), insecure: c.tls.insecure },
    auth,
    bundles: c.bundles === 'all' ? 'all' : [...(c.bundles ?? [])],
    output: { dir: c.output.dir, combined: c.output.combined, removeRevoked: c.output.remove_revoked },
    reload: { ...opt('command', c.reload.command), timeoutMs: parseDuration(c.reload.timeout) },
    refresh: {
      jitter: c.refresh.jitter,
      retryMinMs: parseDuration(c.refresh.retry_min),
      retryMaxMs: parseDuration(c.refresh.retry_max),
      timeoutMs: parseDuration(c.refresh.timeout),
      listIntervalMs: parseDuration(c.refresh.list_interval),
      watch: c.refresh.watch,
    },
    ...(c.status.address !== undefined ? { status: parseLoopbackAddress(c.status.address, 'status.address') } : {}),
    logLevel: c.log.level,
    ...(c.certificates.length > 0 ? { certificates: resolveCertificates(c) } : {}),
  };
}

function resolveCertificates(c: AgentConfig): CertificateSettings[] {
  return c.certificates.map((cert) => {
    const commonName = expandTemplate(cert.common_name, templateValues(c));
    const alt = cert.alt_names.map((n) => expandTemplate(n, templateValues(c)));
    return {
      name: cert.name,
      role: cert.role,
      commonName,
      dnsNames: [...new Set([commonName, ...alt])],
      ipAddresses: [...cert.ip_sans],
      keyType: cert.key_type,
      ttl: cert.ttl,
      ttlMs: parseDuration(cert.ttl),
      dir: cert.dir ?? c.output.dir,
      revokeOnExit: cert.revoke_on_exit,
    };
  });
}
