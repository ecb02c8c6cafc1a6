/**
 * Reads, expands and validates a configuration file once, at the edge. Everything
 * after this sees a frozen, typed `Config`; every problem found here is reported
 * as a ConfigError naming the file, the line and the key.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument, isMap, isSeq, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from './schema.js';
import { checkConfig } from './checks.js';

// validateSchema off: checking our own schemas against the JSON Schema meta-schema on every
// start costs a fifth of the start-up; test/config/schema-meta.test.ts checks them once.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, verbose: true, validateSchema: false });
const validate = compileConfigSchema(configSchema);

type Path = Array<string | number>;
/** Names a key of the file being parsed: `config.yml:12: tls.auth`. */
export type Where = (path: Path) => string;

/**
 * A configuration schema's validator with the options every keygate file uses (defaults
 * applied, strict, all errors), compiled on first use: a process compiles only the
 * schemas of the files it reads.
 */
export function compileConfigSchema(schema: object): () => ValidateFunction {
  let compiled: ValidateFunction | undefined;
  return () => (compiled ??= ajv.compile(schema));
}

/** Reads a configuration file; a ConfigError names the file when it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`${file}: cannot read configuration file (${code})`);
  }
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(readConfigText(file), file, env);
}

/** Parses configuration text; `file` only labels error messages. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseYamlConfig<Config>(text, file, validate, env, checkConfig);
}

/**
 * Parses YAML configuration text: `${NAME}` expansion, validation by a schema compiled with
 * compileConfigSchema, the cross-field `check`, then a deep freeze. Every problem is a
 * ConfigError naming the file, the line and the key; `file` only labels messages.
 */
export function parseYamlConfig<T>(
  text: string,
  file: string,
  validator: () => ValidateFunction,
  env: NodeJS.ProcessEnv,
  check: (config: T, where: Where) => void,
): T {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    throw new ConfigError(`${file}:${line}: invalid YAML: ${first.message.split('\n')[0]}`);
  }
  const where: Where = (path) => {
    const node = nodeAt(doc, path);
    const at = node?.range ? `:${lines.linePos(node.range[0]).line}` : '';
    return `${file}${at}: ${formatPath(seqIndexes(doc, path)) || '(top level)'}`;
  };

  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // e.g. "Excessive alias count" for a billion-laughs document
    throw new ConfigError(`${file}: invalid YAML: ${(err as Error).message}`);
  }
  const expanded = expandEnv(raw, [], env, where);
  const validateConfig = validator();
  if (!validateConfig(expanded)) {
    const messages = (validateConfig.errors ?? []).map((e) => describeSchemaError(e, where));
    throw new ConfigError([...new Set(messages)].join('\n'));
  }
  const config = expanded as T;
  check(config, where);
  return deepFreeze(config);
}

/**
 * Replaces `${NAME}` with the environment variable, as a whole value or inside a string.
 * Policy allow/deny patterns are left alone (as KES does): they are paths, not settings.
 */
function expandEnv(value: unknown, path: Path, env: NodeJS.ProcessEnv, where: Where): unknown {
  if (typeof value === 'string') {
    if (path[0] === 'policy' && (path[2] === 'allow' || path[2] === 'deny')) return value;
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${where(path)}: environment variable '${name}' is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, [...path, i], env, where));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty: a `__proto__` key stays a key (refused as unknown), never the object's prototype.
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: expandEnv(v, [...path, k], env, where), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function describeSchemaError(e: ErrorObject, where: Where): string {
  const path: Path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${where([...path, String(p.additionalProperty)])}: unknown key`;
    case 'required':
      return `${where([...path, String(p.missingProperty)])}: required key is missing`;
    case 'enum':
      return `${where(path)}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `${where(path)}: must be ${String(p.type)}`;
    case 'pattern':
      return `${where(path)}: invalid value ${JSON.stringify(valueHint(e))}`;
    case 'propertyNames':
      return `${where(path)}: invalid name '${String(p.propertyName)}' (1-80 characters of [0-9A-Za-z_-])`;
    case 'minProperties':
    case 'maxProperties':
      return path[0] === 'keystore'
        ? `${where(path)}: exactly one keystore must be configured (memory, fs or vault)`
        : `${where(path)}: ${e.message ?? 'invalid'}`;
    default:
      return `${where(path)}: ${e.message ?? 'invalid'}`;
  }
}

function valueHint(e: ErrorObject): unknown {
  return e.data;
}

function nodeAt(doc: Document, path: Path): Node | undefined {
  for (let i = path.length; i >= 0; i--) {
    const node = doc.getIn(path.slice(0, i), true) as Node | undefined;
    if (node && (isMap(node) || isSeq(node) || 'range' in node)) return node;
  }
  return undefined;
}

/** Schema errors name array items by string ('0'): make them numbers where the document has a sequence, so they print as `[0]`. */
function seqIndexes(doc: Document, path: Path): Path {
  return path.map((p, i) => (typeof p === 'string' && /^\d+$/.test(p) && isSeq(doc.getIn(path.slice(0, i), true)) ? Number(p) : p));
}

export function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
