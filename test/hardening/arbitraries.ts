/**
 * fast-check generators of hostile input: names with path and unicode tricks,
 * request targets no client library would send, and bodies that are malformed,
 * deeply nested, of the wrong type or not base64. Each generator yields input
 * that is invalid for EVERY route it may be sent to, so the property "4xx and
 * nothing stored" holds without knowing each route's rules.
 */
import fc from 'fast-check';

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
const nameChar = fc.constantFrom(...NAME_CHARS.split(''));
const word = fc.string({ unit: nameChar, minLength: 1, maxLength: 12 }).map((w) => `a${w}z`);

/** Percent-encodings of code points that no name anywhere may contain. */
const BAD_ENCODED = [
  '%00',
  '%0A',
  '%0D%0A',
  '%09',
  '%20',
  '%7F',
  '%FF',
  '%C0%AF',
  '%C0%AE',
  '%E2%80%AE',
  '%E2%80%8B',
  '%EF%BC%8F',
  'k%D0%B5y',
  'p%D0%B0ypal',
  '%F0%9F%94%91',
  '%ZZ',
  '%%',
  '%2G',
  '%u002e',
];

/**
 * A path segment that is invalid as a key, policy, identity, group, bundle or
 * node name alike, also once percent-decoded: control characters, homoglyphs,
 * broken escapes, or more characters than any entry name may have.
 */
export const universallyBadSegment: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.option(word, { nil: '' }), fc.constantFrom(...BAD_ENCODED), fc.option(word, { nil: '' })).map(([a, t, b]) => a + t + b),
  fc.string({ unit: nameChar, minLength: 256, maxLength: 700 }),
);

/** Tricks that only the first segment of a route may get (node ids, decoded, may hold '/' and '..'); valid anywhere in a name. */
const INNER_TRICKS = [
  '..',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e',
  '%2E%2E%2F',
  '%2F',
  '%5C',
  '\\',
  ';',
  ':',
  '~',
  '*a',
  '%2A',
  ',',
  '@',
  '+',
  '%25',
  '%252F',
  '%23',
  "'",
  '"',
  '<b>',
  '|',
  '!',
  '$',
  '(',
  '&',
  '=',
];
/** Tricks that are only wrong at the start of a name ('.hidden' is fine inside a bundle name). */
// ('*.*' alone is not here: on /v1/cert/list it is the valid pattern for every wildcard bundle.)
const LEADING_TRICKS = ['.', '..', '...', '.hidden', '**', '*.**', '_.'];

export const firstSegmentTrick: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: universallyBadSegment },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.option(word, { nil: '' }), fc.constantFrom(...INNER_TRICKS), fc.option(word, { nil: '' })).map(([a, t, b]) => a + t + b),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...LEADING_TRICKS), fc.option(word, { nil: '' })).map(([t, b]) => t + b) },
);

/** 81–255 valid characters: too long for KES names and group names, not for bundles. */
export const tooLongForKES: fc.Arbitrary<string> = fc.string({ unit: nameChar, minLength: 81, maxLength: 255 }).map((s) => `a${s}z`);

/**
 * Ways to spoil a route's path prefix so that no route may match it, however
 * a normalizing proxy would read it: dot segments, doubled or encoded slashes,
 * encoded letters, backslashes, absolute form.
 */
export const prefixMutation: fc.Arbitrary<(prefix: string) => string> = fc.oneof(
  fc.constantFrom(
    (p: string) => p.replace(/^\/([^/]+)\//, '/$1/../$1/'),
    (p: string) => p.replace(/^\/([^/]+)\//, '/$1/./'),
    (p: string) => '/' + p,
    (p: string) => p.replace(/\/([^/]+)\/$/, '//$1/'),
    (p: string) => p.replace(/\/([^/]+)\/$/, '/$1%2F'),
    (p: string) => p.replace(/\/([^/]+)\/$/, '/$1%2f'),
    (p: string) => p.replace(/\/$/, '\\'),
    (p: string) => p.replace(/\//g, '\\'),
    (p: string) => p.replace(/\/([^/]+)\/$/, '/%2e%2e/$1/'),
    (p: string) => p.replace(/^\//, '/./'),
    (p: string) => p.replace(/^\//, '/%2F'),
    (p: string) => p.replace(/^\/([a-z])/, (_m, c: string) => `/%${c.charCodeAt(0).toString(16)}`),
    (p: string) => p.replace(/^\/v1\//, '/V1/'),
    (p: string) => p.toUpperCase(),
    (p: string) => p.replace(/^\/([^/]+)/, '/$1;x=1'),
    (p: string) => 'https://localhost:7373' + p.replace(/^\/([^/]+)/, '/$1/..'),
    (p: string) => p.replace(/^\//, '/%00/'),
  ),
);

/** Request targets the HTTP parser itself refuses: raw control bytes, spaces, non-ASCII, oversize. */
export const unparsableTarget: fc.Arbitrary<(path: string) => string> = fc.oneof(
  fc.constantFrom('\u0000', '\u0001', ' ', '\t', '\u007f').map((c) => (p: string) => p + 'a' + c + 'b'),
  fc.constantFrom('ключ', 'ｋｅｙ', 'k\u0435y', '\u202e').map((u) => (p: string) => p + u),
  fc.integer({ min: 17_000, max: 40_000 }).map((n) => (p: string) => p + 'a'.repeat(n)),
);

/** Wrong-typed JSON values that no documented field accepts (arrays of arrays, objects of them), possibly very deep. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 2, max: 64 }).map((d) => nest(d, [1])),
  fc.integer({ min: 500, max: 4000 }).map((d) => nest(d, [])),
  fc.array(fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  fc.constantFrom({ x: [[1]] }, { '': [[]] }, JSON.parse('{"__proto__":[[0]]}') as unknown),
);

function nest(depth: number, inner: unknown[]): unknown[] {
  let v: unknown[] = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Strings that are not standard padded base64. */
export const invalidBase64: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('Y', 'YQ', 'YQ=', 'Y===', '====', 'YWJj\n', 'YW Jj', 'YW-_', 'YWJj*', '!!!!', 'YWJ', '\u0000\u0000\u0000\u0000', 'ＹＷＪｊ'),
  fc.string({ minLength: 1, maxLength: 64 }).filter((s) => !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)),
);

/** A JSON text that does not parse. */
export const malformedJSON: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":',
    '{"a" 1}',
    "{'a':1}",
    '{"a":1,}',
    '[1,]',
    'nul',
    'tru',
    '{"a":01}',
    '{"a":NaN}',
    '\uFEFF{}',
    '{"a":"\u0000"',
    '{}{}',
    '{"a":1}garbage',
    '/*c*/{}',
  ),
  fc
    .json()
    .filter((j) => j.length > 1)
    .map((j) => j.slice(0, -1)),
  fc.string({ minLength: 1, maxLength: 200 }).filter((s) => !parses(s)),
  fc
    .uint8Array({ minLength: 1, maxLength: 512 })
    .map((b) => Buffer.from(b).toString('latin1'))
    .filter((s) => !parses(s)),
  fc.integer({ min: 1000, max: 200_000 }).map((d) => '{"a":'.repeat(d)),
);

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/** A JSON text whose top level is not an object. */
export const nonObjectJSON: fc.Arbitrary<string> = fc.oneof(
  fc
    .jsonValue()
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
    .map((v) => JSON.stringify(v)),
  fc.integer({ min: 1000, max: 400_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
);

/** Every documented field (and legacy spellings) with a wrong-typed value, plus odd extra keys. */
export function poisonedObject(fields: readonly string[]): fc.Arbitrary<string> {
  const all = [...new Set([...fields, 'bytes', 'algorithm'])];
  return fc
    .tuple(
      fc.array(wrongValue, { minLength: all.length, maxLength: all.length }),
      fc.dictionary(
        fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty')),
        fc.jsonValue({ maxDepth: 3 }),
        { maxKeys: 4 },
      ),
    )
    .map(([values, extra]) => {
      const obj: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(extra)) Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
      all.forEach((f, i) => (obj[f] = values[i]));
      return JSON.stringify(obj);
    });
}

/** The base64 fields of the KES surface, every one of them not base64. */
export const badBase64Object: fc.Arbitrary<string> = fc
  .tuple(invalidBase64, invalidBase64, invalidBase64, invalidBase64, invalidBase64, invalidBase64)
  .map(([key, bytes, plaintext, ciphertext, context, message]) => JSON.stringify({ key, bytes, plaintext, ciphertext, context, message }));

/** Methods a route does not take: unknown tokens and the standard ones (filtered per route by the caller). */
export const anyMethod = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'BREW', 'get');
