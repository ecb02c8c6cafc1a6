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
import { isValidBundleName } from '../core/bundle-names.js';
import type { Level } from '../log/logger.js';

export interface AgentConfig {
  /** The keygate server, `https://host:port`. */
  server: string;
  tls: { ca?: string; cert?: string; key?: string; insecure: boolean };
  /** Registration or enrollment with a group token; absent = the client certificate alone. */
  node?: { group: string; group_token: string; id?: string; enroll: boolean };
  /** Bundle names, or `all`: every bundle the node may read. */
  bundles: string[] | 'all';
  output: { dir: string; combined: boolean; remove_revoked: boolean };
  reload: { command?: string | string[]; timeout: string };
  refresh: { jitter: number; retry_min: string; retry_max: string; timeout: string; list_interval: string; watch: boolean };
  status: { address?: string };
  log: { level: Level };
}

const text = { type: 'string', minLength: 1 } as const;
const duration = { type: 'string', minLength: 1 } as const; // parsed (and explained) by checkAgentConfig

export const agentConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'bundles', 'output'],
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
  if (c.bundles !== 'all') checkBundleNames(c.bundles, where);
  if (c.status.address !== undefined) parseLoopbackAddress(c.status.address, where(['status', 'address']));
}

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
    bundles: c.bundles === 'all' ? 'all' : [...c.bundles],
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
  };
}
