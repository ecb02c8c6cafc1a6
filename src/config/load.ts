/**
 * Reads, expands and validates a configuration file once, at the edge. Everything
 * after this sees a frozen, typed `Config`; every problem found here is reported
 * as a ConfigError naming the file, the line and the key.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument, isMap, isSeq, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from './schema.js';
import { checkConfig } from './checks.js';
import { readFileOr } from '../files/read.js';

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
  return readFileOr(file, (code) => new ConfigError(`${file}: cannot read configuration file (${code})`)).toString('utf8');
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
  const validateConfig = validator();
  const fromEnv = new Map<string, string>();
  const expanded = expandEnv(raw, [], env, where, validateConfig.schema as Schema, fromEnv);
  if (!validateConfig(expanded)) {
    const messages = (validateConfig.errors ?? []).map((e) => describeSchemaError(e, where, fromEnv));
    throw new ConfigError([...new Set(messages)].join('\n'));
  }
  const config = expanded as T;
  check(config, where);
  return deepFreeze(config);
}

type Schema = {
  type?: string | string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
};

/** The schema of `key` inside an object or array schema (undefined where the schema says nothing). */
function childSchema(schema: Schema | undefined, key: string | number): Schema | undefined {
  if (!schema) return undefined;
  if (typeof key === 'number') return schema.items;
  return schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
}

function typesOf(schema: Schema | undefined): Set<string> {
  const types = new Set<string>();
  if (!schema) return types;
  for (const t of [schema.type ?? []].flat()) types.add(t);
  for (const alt of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) for (const t of typesOf(alt)) types.add(t);
  return types;
}

/**
 * An environment variable is text, but `cache.max_bytes: ${MAX}` means the number: a
 * whole-value substitution takes the type the schema wants there when the text is one.
 * Text that does not parse stays text, so the schema's own error names the key.
 */
function coerce(text: string, schema: Schema | undefined): unknown {
  const types = typesOf(schema);
  if (types.has('integer') && /^-?\d+$/.test(text.trim())) return Number(text);
  if (types.has('number') && text.trim() !== '' && Number.isFinite(Number(text))) return Number(text);
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

const WHOLE_VALUE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/**
 * Replaces `${NAME}` with the environment variable, as a whole value or inside a string.
 * Policy allow/deny patterns are left alone (as KES does): they are paths, not settings.
 * `fromEnv` records which keys took a whole value from which variable, for error messages.
 */
function expandEnv(value: unknown, path: Path, env: NodeJS.ProcessEnv, where: Where, schema: Schema | undefined, fromEnv: Map<string, string>): unknown {
  if (typeof value === 'string') {
    if (path[0] === 'policy' && (path[2] === 'allow' || path[2] === 'deny')) return value;
    const expanded = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${where(path)}: environment variable '${name}' is not set`);
      return v;
    });
    const whole = WHOLE_VALUE.exec(value)?.[1];
    if (whole === undefined) return expanded;
    fromEnv.set(formatPath(path), whole);
    return coerce(expanded, schema);
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, [...path, i], env, where, childSchema(schema, i), fromEnv));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty: a `__proto__` key stays a key (refused as unknown), never the object's prototype.
    for (const [k, v] of Object.entries(value)) {
      const child = expandEnv(v, [...path, k], env, where, childSchema(schema, k), fromEnv);
      Object.defineProperty(out, k, { value: child, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The known key nearest to a typo, when it is near enough to be what was meant. */
export function nearestKey(typo: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const key of known) {
    const distance = editDistance(typo.toLowerCase(), key.toLowerCase());
    if (!best || distance < best.distance) best = { key, distance };
  }
  // Up to a third of the typo's letters (at least one, at most two): `auht` → auth, never `tls_typo` → tls.
  const allowed = Math.min(2, Math.max(1, Math.floor(typo.length / 3)));
  return best && best.distance <= allowed ? best.key : undefined;
}

function describeSchemaError(e: ErrorObject, where: Where, fromEnv: ReadonlyMap<string, string>): string {
  const path: Path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema as Schema | undefined)?.properties ?? {});
      const near = nearestKey(key, known);
      return `${where([...path, key])}: unknown key${near === undefined ? '' : ` (did you mean '${near}'?)`}`;
    }
    case 'required':
      return `${where([...path, String(p.missingProperty)])}: required key is missing`;
    case 'enum':
      return `${where(path)}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type': {
      const variable = fromEnv.get(formatPath(path));
      return `${where(path)}: must be ${String(p.type)}${variable === undefined ? '' : ` (the value of environment variable '${variable}' is not one)`}`;
    }
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
