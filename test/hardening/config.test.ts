/**
 * The configuration loader under attack, beyond test/config/load.test.ts: the
 * schema itself is walked and every key gets values of the wrong type, out of
 * range, off-pattern, off-enum, an unknown sibling, and an unset `${VAR}` —
 * each must be a ConfigError naming `cfg.yml:<line>: <that key>`. Then fast-check
 * throws random documents and random text at it: every refusal is a ConfigError
 * whose every line names the file (never a TypeError or a stack), and the YAML
 * tricks (billion laughs, `__proto__`, deep nesting, odd keys) are refused cleanly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfig, formatPath } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { recordFigure } from './figures.js';

type JSONObject = Record<string, unknown>;
type Path = Array<string | number>;
interface Leaf {
  path: Path;
  schema: JSONObject;
}

const ID = 'a'.repeat(64);
let cases = 0;
afterAll(() => recordFigure('config', { cases }));

/** A valid configuration using every section, with the keystore the path needs. */
function baseFor(path: Path): JSONObject {
  const vault: JSONObject = {
    endpoint: 'https://127.0.0.1:8200',
    endpoints: ['https://127.0.0.2:8200'],
    tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
    status: { ping: '10s' },
    timeout: '10s',
    namespace: 'ns',
    prefix: 'p',
  };
  const auth =
    path[2] === 'approle'
      ? { approle: { id: 'i', secret: 's', engine: 'approle', namespace: 'n' } }
      : path[2] === 'kubernetes'
        ? { kubernetes: { role: 'r', jwt: 'j', engine: 'kubernetes', namespace: 'n' } }
        : { token: 't' };
  // One issuer of the kind the path is in (an issuer has exactly one), with one auth method.
  const pkiAuth = path[4] === 'approle' ? { approle: { id: 'i', secret: 's', engine: 'approle', namespace: 'n' } } : { token: 't' };
  const pkiIssuer =
    path[0] === 'pki' && path[3] === 'vault_pki'
      ? {
          vault_pki: {
            mount: 'pki',
            role: 'r',
            endpoint: 'https://127.0.0.1:8200',
            namespace: 'ns',
            tls: { ca: 'ca.pem', insecure: false },
            timeout: '10s',
            ...pkiAuth,
          },
        }
      : { builtin: { common_name: 'CA', key_type: 'ecdsa-p256', ttl: '8760h', import: { cert: 'c.pem', key: 'k.pem' } } };
  const keystore = path[1] === 'fs' ? { fs: { path: './data' } } : path[1] === 'vault' ? { vault: { ...vault, ...auth } } : { memory: {} };
  return {
    version: 'v1',
    address: '127.0.0.1:7373',
    admin: { identity: ID },
    tls: { key: 'k.pem', cert: 'c.pem', password: 'pw', auth: 'on', ca: 'ca.pem' },
    policy_match: 'glob',
    policy: { p: { allow: ['/v1/key/*/*'], deny: ['/v1/key/*/x'], identities: ['b'.repeat(64)] } },
    cache: { expiry: { any: '5m', unused: '30s', offline: '0', credentials: '10s' }, max_bytes: 1024 },
    log: { error: 'on', audit: 'on', error_file: 'e.log', audit_file: 'a.log' },
    keys: [{ name: 'k1' }],
    server: { workers: 1 },
    limits: {
      header_timeout: '5s',
      request_timeout: '15s',
      idle_timeout: '90s',
      max_header_bytes: 16384,
      max_connections: 10,
      auth_failures: 5,
      auth_failure_window: '1m',
    },
    rks: { init_token: 'it', admin: { login: 'l', password: 'p' }, admin_token_ttl: '1h' },
    pki: {
      issuers: { p: pkiIssuer },
      roles: {
        p: {
          issuer: 'p',
          allowed_names: ['*.example.com'],
          key_types: ['ecdsa-p256'],
          ttl: '1h',
          max_ttl: '24h',
          usage: ['server'],
          allow_ip_sans: false,
          groups: ['g'],
          same_key: false,
          vault_role: 'r',
        },
      },
      default_issuer: 'p',
      tidy_interval: '1h',
      crl_ttl: '72h',
    },
    keystore,
  };
}

/** Every key the schema defines (map values and array items by a sample key or index). */
function leaves(schema: JSONObject, path: Path = []): Leaf[] {
  const out: Leaf[] = path.length > 0 ? [{ path, schema }] : [];
  for (const [k, v] of Object.entries((schema['properties'] ?? {}) as Record<string, JSONObject>)) out.push(...leaves(v, [...path, k]));
  const additional = schema['additionalProperties'];
  if (additional && typeof additional === 'object') out.push(...leaves(additional as JSONObject, [...path, 'p']));
  if (schema['items']) out.push(...leaves(schema['items'] as JSONObject, [...path, 0]));
  return out;
}

/** Values this key's schema refuses. */
function badValues(s: JSONObject): unknown[] {
  const types = (s['anyOf'] ? (s['anyOf'] as JSONObject[]).map((a) => a['type']) : [s['type']]) as string[];
  const out: unknown[] = [];
  if (!types.includes('string')) out.push('text');
  if (!types.includes('integer')) out.push(42);
  if (!types.includes('boolean')) out.push(true);
  if (types.includes('array')) out.push({ zz: 1 });
  else out.push(['x']);
  if (types.includes('integer')) out.push(1.5);
  if (typeof s['minimum'] === 'number') out.push(s['minimum'] - 1);
  if (typeof s['maximum'] === 'number') out.push(s['maximum'] + 1);
  if (s['enum']) out.push('not-an-option');
  if (s['pattern']) out.push('not valid :: at all', ' 5 minutes', '-1s');
  if (s['minLength'] === 1) out.push('');
  if (s['additionalProperties'] === false) out.push({ zz_unknown: 1 });
  for (const a of (s['anyOf'] ?? []) as JSONObject[]) if (typeof a['minimum'] === 'number') out.push(a['minimum'] - 1);
  return out;
}

function setAt(obj: JSONObject, path: Path, value: unknown): void {
  let at: Record<string | number, unknown> = obj;
  path.slice(0, -1).forEach((key, i) => {
    // The container a missing key needs depends on the key that goes into it: an index needs an array.
    if (at[key] === undefined || at[key] === null || typeof at[key] !== 'object') at[key] = typeof path[i + 1] === 'number' ? [] : {};
    at = at[key] as Record<string | number, unknown>;
  });
  at[path[path.length - 1] as string | number] = value;
}

/** Parses `doc`; returns the ConfigError's message (and fails on any other outcome). */
function refusal(doc: JSONObject | string, env: NodeJS.ProcessEnv = {}): string {
  cases++;
  const text = typeof doc === 'string' ? doc : stringify(doc);
  try {
    parseConfig(text, 'cfg.yml', env);
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    for (const line of message.split('\n')) expect(line).toMatch(/^cfg\.yml(:\d+)?: ./);
    return message;
  }
  expect.fail(`accepted:\n${text}`);
}

const all = leaves(configSchema as unknown as JSONObject);

describe('every key of the schema', () => {
  it('the base configurations are valid', () => {
    for (const ks of [
      ['keystore', 'memory'],
      ['keystore', 'fs'],
      ['keystore', 'vault', 'token'],
      ['keystore', 'vault', 'approle'],
      ['keystore', 'vault', 'kubernetes'],
    ]) {
      expect(() => parseConfig(stringify(baseFor(ks)), 'cfg.yml', {})).not.toThrow();
    }
    expect(all.length).toBeGreaterThan(60);
  });

  it('refuses wrong types, ranges, patterns, enums and unknown keys, naming the key and its line', () => {
    let checked = 0;
    for (const { path, schema } of all) {
      for (const bad of badValues(schema)) {
        const doc = baseFor(path);
        setAt(doc, path, bad);
        // Setting a sibling auth method makes the vault section ambiguous instead: covered below.
        const key = formatPath(path);
        const message = refusal(doc);
        expect(message, `${key} = ${JSON.stringify(bad)}`).toMatch(new RegExp(`^cfg\\.yml:\\d+: ${escape(key)}(\\.zz_unknown|\\[\\d+\\])?: `, 'm'));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200);
  });

  it('refuses an unset ${VAR} in every string key (policy patterns excepted), naming the key', () => {
    for (const { path, schema } of all) {
      if (schema['type'] !== 'string' || schema['enum'] || (path[0] === 'policy' && (path[2] === 'allow' || path[2] === 'deny'))) continue;
      const doc = baseFor(path);
      setAt(doc, path, 'x${KEYGATE_UNSET_FOR_TEST}');
      expect(refusal(doc)).toMatch(new RegExp(`^cfg\\.yml:\\d+: ${escape(formatPath(path))}: environment variable 'KEYGATE_UNSET_FOR_TEST' is not set$`));
    }
  });
});

describe('cross-field rules', () => {
  const cases: Array<[string, (d: JSONObject) => void, RegExp]> = [
    [
      'header timeout past the request timeout',
      (d) => setAt(d, ['limits', 'header_timeout'], '30s'),
      /limits\.header_timeout: must not be longer than limits\.request_timeout/,
    ],
    ['vault ping of 0', (d) => setAt(d, ['keystore', 'vault', 'status', 'ping'], '0'), /keystore\.vault\.status\.ping: must be between/],
    ['vault timeout past a timer', (d) => setAt(d, ['keystore', 'vault', 'timeout'], '600h'), /keystore\.vault\.timeout: must be between/],
    [
      'two vault auth methods',
      (d) => setAt(d, ['keystore', 'vault', 'approle'], { id: 'i', secret: 's' }),
      /keystore\.vault: exactly one authentication method/,
    ],
    [
      'vault client cert without key',
      (d) => setAt(d, ['keystore', 'vault', 'tls'], { cert: 'c.pem' }),
      /keystore\.vault\.tls: cert and key must be given together/,
    ],
    [
      'workers on the memory keystore',
      (d) => ((d['keystore'] = { memory: {} }), setAt(d, ['server', 'workers'], 2)),
      /server\.workers: the memory keystore cannot be shared/,
    ],
    ['an invalid key name', (d) => setAt(d, ['keys'], [{ name: 'a.b' }]), /keys\[0\]\.name: invalid key name/],
    ['a key listed twice', (d) => setAt(d, ['keys'], [{ name: 'k' }, { name: 'k' }]), /keys\[1\]\.name: key 'k' is listed twice/],
    ['an empty identity', (d) => setAt(d, ['policy', 'p', 'identities'], ['']), /policy\.p\.identities\[0\]: empty identity/],
    ['a glob with a trailing escape', (d) => setAt(d, ['policy', 'p', 'allow'], ['/v1/key/\\']), /policy\.p\.allow\[0\]: /],
  ];
  it.each(cases)('%s', (_name, change, message) => {
    const doc = baseFor(['keystore', 'vault', 'token']);
    change(doc);
    expect(refusal(doc)).toMatch(message);
  });
});

describe('hostile documents', () => {
  it('YAML tricks: billion laughs, __proto__ keys, deep nesting, odd keys, other top levels', () => {
    const base = stringify(baseFor(['keystore']));
    const laughs =
      'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n';
    expect(refusal(laughs + base)).toMatch(/^cfg\.yml: invalid YAML: Excessive alias count/);
    expect(refusal(base + '__proto__:\n  x: 1\n')).toMatch(/: __proto__: unknown key$/);
    // A `__proto__` key must not smuggle a known key in through the prototype either.
    expect(refusal(base.replace('tls:\n', 'tls:\n  __proto__:\n    auth: "off"\n'))).toMatch(/: tls\.__proto__: unknown key$/);
    expect(refusal(`x: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n` + base)).toMatch(/^cfg\.yml:\d+: /);
    for (const odd of ['1: 2\n', '~: 2\n', '"": 2\n', '? [a, b]\n: 1\n', 'admin: !!binary aGVsbG8=\n']) refusal(base + odd);
    for (const top of ['- a\n- b\n', 'hello', '', '\u0000\u0001', '42', '---\n---\n']) refusal(top);
  });

  it('random documents and random text: a ConfigError naming the file, or a valid config — never another error', () => {
    const anything = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v)),
      fc.record({ key: fc.constantFrom(...all.map((l) => l.path)), value: fc.jsonValue({ maxDepth: 3 }) }).map(({ key, value }) => {
        const doc = baseFor(key);
        setAt(doc, key, value);
        return stringify(doc);
      }),
      fc.string({ maxLength: 300 }),
      fc
        .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }))
        .map(([k, v]) => stringify(baseFor([])) + `${JSON.stringify(k)}: ${JSON.stringify(v)}\n`),
    );
    fc.assert(
      fc.property(anything, (text) => {
        cases++;
        try {
          parseConfig(text, 'cfg.yml', {});
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          for (const line of err.message.split('\n'))
            if (!/^cfg\.yml(:\d+)?: ./.test(line)) throw new Error(`a message line without the file: ${line}`, { cause: err });
        }
      }),
      { numRuns: 1000 },
    );
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
