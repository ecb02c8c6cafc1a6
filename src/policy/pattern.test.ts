import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern, PatternError } from './pattern.js';

// ---------------------------------------------------------------------------
// Oracles

/**
 * A line-by-line port of Go's path.Match (src/path/match.go), byte-wise, so
 * only valid for ASCII input. It is the reference for 'glob' mode without
 * '**': keygate must agree with it on validity and on every decision.
 */
class GoBadPattern extends Error {}

function goScanChunk(pattern: string): [boolean, string, string] {
  let star = false;
  while (pattern.length > 0 && pattern[0] === '*') {
    pattern = pattern.slice(1);
    star = true;
  }
  let inrange = false;
  let i = 0;
  scan: for (; i < pattern.length; i++) {
    switch (pattern[i]) {
      case '\\':
        if (i + 1 < pattern.length) i++;
        break;
      case '[':
        inrange = true;
        break;
      case ']':
        inrange = false;
        break;
      case '*':
        if (!inrange) break scan;
        break;
    }
  }
  return [star, pattern.slice(0, i), pattern.slice(i)];
}

function goGetEsc(chunk: string): [number, string] {
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw new GoBadPattern();
  if (chunk[0] === '\\') {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new GoBadPattern();
  }
  const r = chunk.charCodeAt(0);
  const rest = chunk.slice(1);
  if (rest.length === 0) throw new GoBadPattern();
  return [r, rest];
}

function goMatchChunk(chunk: string, s: string): [string, boolean] {
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    const c = chunk[0];
    if (c === '[') {
      let r = -1;
      if (!failed) {
        r = s.charCodeAt(0);
        s = s.slice(1);
      }
      chunk = chunk.slice(1);
      let negated = false;
      if (chunk.length > 0 && chunk[0] === '^') {
        negated = true;
        chunk = chunk.slice(1);
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (chunk.length > 0 && chunk[0] === ']' && nrange > 0) {
          chunk = chunk.slice(1);
          break;
        }
        let lo: number;
        [lo, chunk] = goGetEsc(chunk);
        let hi = lo;
        if (chunk[0] === '-') [hi, chunk] = goGetEsc(chunk.slice(1));
        if (lo <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === '?') {
      if (!failed) {
        if (s[0] === '/') failed = true;
        s = s.slice(1);
      }
      chunk = chunk.slice(1);
    } else {
      if (c === '\\') {
        chunk = chunk.slice(1);
        if (chunk.length === 0) throw new GoBadPattern();
      }
      if (!failed) {
        if (chunk[0] !== s[0]) failed = true;
        s = s.slice(1);
      }
      chunk = chunk.slice(1);
    }
  }
  return failed ? ['', false] : [s, true];
}

function goPathMatch(pattern: string, name: string): boolean {
  outer: while (pattern.length > 0) {
    let star: boolean;
    let chunk: string;
    [star, chunk, pattern] = goScanChunk(pattern);
    if (star && chunk === '') return !name.includes('/');
    const [t, ok] = goMatchChunk(chunk, name);
    if (ok && (t.length === 0 || pattern.length > 0)) {
      name = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < name.length && name[i] !== '/'; i++) {
        const [t2, ok2] = goMatchChunk(chunk, name.slice(i + 1));
        if (ok2) {
          if (pattern.length === 0 && t2.length > 0) continue;
          name = t2;
          continue outer;
        }
      }
    }
    while (pattern.length > 0) {
      [, chunk, pattern] = goScanChunk(pattern);
      goMatchChunk(chunk, '');
    }
    return false;
  }
  return name.length === 0;
}

const goIsValid = (pattern: string): boolean => {
  try {
    goPathMatch(pattern, '');
    return true;
  } catch (err) {
    if (err instanceof GoBadPattern) return false;
    throw err;
  }
};

/**
 * "Some way of matching exists" semantics, decided by the RegExp engine: the
 * reference for patterns with '**'. Only for patterns Go accepts.
 */
function regexOracle(pattern: string): RegExp {
  const esc = (cp: number): string => `\\u{${cp.toString(16)}}`;
  let re = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '*') {
      let j = i;
      while (pattern[j] === '*') j++;
      re += j - i >= 2 ? '[\\s\\S]*' : '[^/]*';
      i = j;
    } else if (c === '?') {
      re += '[^/]';
      i++;
    } else if (c === '\\') {
      re += esc(pattern.codePointAt(i + 1) as number);
      i += 2;
    } else if (c === '[') {
      i++;
      const negated = pattern[i] === '^';
      if (negated) i++;
      const members: string[] = [];
      let n = 0;
      const member = (): number => {
        if (pattern[i] === '\\') i++;
        return pattern.codePointAt(i++) as number;
      };
      while (!(pattern[i] === ']' && n > 0)) {
        const lo = member();
        let hi = lo;
        if (pattern[i] === '-') {
          i++;
          hi = member();
        }
        if (lo <= hi) members.push(`${esc(lo)}-${esc(hi)}`);
        n++;
      }
      i++;
      if (members.length === 0) re += negated ? '[\\s\\S]' : '(?!)';
      else re += `[${negated ? '^' : ''}${members.join('')}]`;
    } else {
      re += esc(pattern.codePointAt(i) as number);
      i++;
    }
  }
  return new RegExp(`^(?:${re})$`, 'u');
}

const glob = (pattern: string) => compilePattern(pattern, 'glob');
const prefix = (pattern: string) => compilePattern(pattern, 'prefix');

const PATTERN_CHARS = ['a', 'b', '/', '*', '?', '[', ']', '^', '-', '\\'];
const PATH_CHARS = ['a', 'b', '/', '-', '^', ']', '\\', '*'];
const patternArb = fc.string({ unit: fc.constantFrom(...PATTERN_CHARS), minLength: 1, maxLength: 10 });
const pathArb = fc.string({ unit: fc.constantFrom(...PATH_CHARS), maxLength: 10 });

// ---------------------------------------------------------------------------

describe('compilePattern glob', () => {
  it.each<[string, string, boolean]>([
    // '*' stays within one segment.
    ['/v1/key/create/*', '/v1/key/create/my-key', true],
    ['/v1/key/create/*', '/v1/key/create/', true],
    ['/v1/key/create/*', '/v1/key/create/a/b', false],
    ['/v1/key/create/*', '/v1/key/create', false],
    ['/v1/identity/assign/*/*', '/v1/identity/assign/af43c/my-policy', true],
    ['/v1/identity/assign/*/*', '/v1/identity/assign/af43c', false],
    ['/v1/*/create/*', '/v1/key/create/x', true],
    ['/v1/*/create/*', '/v1/a/b/create/x', false],
    ['*', 'abc', true],
    ['*', '', true],
    ['*', '/', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY/c', false],
    // '?'
    ['/v1/key/create/?', '/v1/key/create/a', true],
    ['/v1/key/create/?', '/v1/key/create/ab', false],
    ['/v1/key/create/?', '/v1/key/create/', false],
    ['a?b', 'a/b', false],
    ['a?b', 'aéb', true], // one code point, not one UTF-16 unit
    ['a?b', 'a😀b', true],
    // classes
    ['/v1/key/create/[a-z]', '/v1/key/create/m', true],
    ['/v1/key/create/[a-z]', '/v1/key/create/my-key0', false],
    ['/v1/key/create/[^a-z]', '/v1/key/create/M', true],
    ['/v1/key/create/[^a-z]', '/v1/key/create/m', false],
    ['x[abc]y', 'xby', true],
    ['x[a-cx-z]y', 'xzy', true],
    ['x[a-cx-z]y', 'xmy', false],
    ['x[z-a]y', 'xzy', false], // inverted range: valid, matches nothing
    ['x[*]y', 'x*y', true],
    ['x[*]y', 'xay', false],
    ['x[\\]]y', 'x]y', true],
    ['x[\\-]y', 'x-y', true],
    ['x[\\^a]y', 'x^y', true],
    ['x[/]y', 'x/y', true], // as in Go, a class may match '/'
    ['x[^a]y', 'x/y', true],
    ['x[😀-😂]y', 'x😁y', true],
    // escapes and plain metacharacters
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a\\?b', 'a?b', true],
    ['a\\?b', 'axb', false],
    ['a\\[b', 'a[b', true],
    ['a\\\\b', 'a\\b', true],
    ['a\\bc', 'abc', true],
    ['a]b', 'a]b', true],
    ['a^b', 'a^b', true],
    ['a-b', 'a-b', true],
    ['\\**', '*abc', true],
    ['\\**', 'abc', false],
    // Go's leftmost-commit quirk, kept for compatibility with classic KES.
    ['*[^a]*', 'x/y', false],
    ['*[/x]*c', 'x/c', false],
    ['*[^a]b', 'x/b', true],
  ])('%j on %j -> %j', (pattern, path, expected) => {
    expect(glob(pattern)(path)).toBe(expected);
  });

  it.each<[string, string, boolean]>([
    ['/v1/key/**', '/v1/key/create/a', true],
    ['/v1/key/**', '/v1/key/create/a/b/c', true],
    ['/v1/key/**', '/v1/key/', true],
    ['/v1/key/**', '/v1/key', false],
    ['/v1/key/**', '/v1/keys/a', false],
    ['/v1/**/a', '/v1/key/create/a', true],
    ['/v1/**/a', '/v1/x/a', true],
    ['/v1/**/a', '/v1//a', true],
    ['/v1/**/a', '/v1/a', false],
    ['/v1/**/a', '/v1/key/create/b', false],
    ['/v1/**/a', '/v1/key/a/b', false],
    ['**', '', true],
    ['**', '/any/thing', true],
    ['***', '/a/b', true],
    ['/**/create/*', '/v1/key/create/k', true],
    ['/**/create/*', '/v1/key/create/k/x', false],
    ['/v1/**/create/[a-z]*', '/v1/key/create/my-key', true],
    ['/v1/**/create/[a-z]*', '/v1/key/create/My-key', false],
    ['**/a*', 'x/a/b/ab', true], // not committed to the first "/a"
    ['/v1/**/?', '/v1/a/b/c', true],
    ['/v1/**/?', '/v1/a/b/', false],
    ['a\\**b', 'a*/b', false], // escaped star + '*': no globstar
    ['a\\**b', 'a*xb', true],
  ])('** %j on %j -> %j', (pattern, path, expected) => {
    expect(glob(pattern)(path)).toBe(expected);
  });

  it.each([
    ['/v1/key/generate/my-key-[a-]', 'character range has no upper bound'],
    ['/v1/key/generate/my-key-\\', 'trailing backslash'],
    ['[a-', 'unterminated character class'],
    ['[', 'unterminated character class'],
    ['[a', 'unterminated character class'],
    ['[a-b', 'unterminated character class'],
    ['[\\', 'unterminated character class'],
    ['[\\]', 'unterminated character class'],
    ['[]', 'empty character class'],
    ['[]a]', 'empty character class'],
    ['[^]', 'empty character class'],
    ['[-a]', 'no lower bound'],
    ['[a--]', 'invalid character range'],
    ['a\\', 'trailing backslash'],
    ['*[', 'unterminated character class'],
    ['**[x', 'unterminated character class'],
  ])('rejects %j (%s)', (pattern, reason) => {
    let caught: unknown;
    try {
      glob(pattern);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PatternError);
    const err = caught as PatternError;
    expect(err.pattern).toBe(pattern);
    expect(err.reason).toContain(reason);
    expect(err.message).toContain(`'${pattern}'`);
    expect(err.name).toBe('PatternError');
    expect(goIsValid(pattern)).toBe(false);
  });

  it('skips the empty pattern: it never matches', () => {
    expect(glob('')('')).toBe(false);
    expect(glob('')('/v1/status')).toBe(false);
  });

  it('agrees with Go path.Match on which patterns are malformed', () => {
    fc.assert(
      fc.property(patternArb, (p) => {
        let ok = true;
        try {
          glob(p);
        } catch (err) {
          if (!(err instanceof PatternError)) throw err;
          ok = false;
        }
        expect(ok).toBe(goIsValid(p));
      }),
      { numRuns: 5000 },
    );
  });

  it('decides exactly like Go path.Match for patterns without **', () => {
    const validNoGlobstar = patternArb.filter((p) => !p.includes('**') && goIsValid(p));
    fc.assert(
      fc.property(validNoGlobstar, fc.array(pathArb, { minLength: 1, maxLength: 8 }), (p, paths) => {
        const m = glob(p);
        for (const path of paths) expect(m(path), `${p} on ${path}`).toBe(goPathMatch(p, path));
      }),
      { numRuns: 5000 },
    );
  });

  it('decides patterns with ** like a full (backtracking) match would', () => {
    const withGlobstar = fc
      .tuple(patternArb, patternArb)
      .map(([a, b]) => `${a}**${b}`)
      .filter(goIsValid);
    fc.assert(
      fc.property(withGlobstar, fc.array(pathArb, { minLength: 1, maxLength: 8 }), (p, paths) => {
        const m = glob(p);
        const re = regexOracle(p);
        for (const path of paths) expect(m(path), `${p} on ${path}`).toBe(re.test(path));
      }),
      { numRuns: 3000 },
    );
  });

  it('a glob match by Go is always a real match (sanity check of the oracles)', () => {
    const valid = patternArb.filter((p) => !p.includes('**') && goIsValid(p));
    fc.assert(
      fc.property(valid, pathArb, (p, path) => {
        if (goPathMatch(p, path)) expect(regexOracle(p).test(path)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('stays linear on adversarial patterns', () => {
    const as = 'a'.repeat(100_000);
    expect(glob('*a*a*a*a*b')(as)).toBe(false);
    expect(glob('*a*a*a*a*b')(`${as}b`)).toBe(true);
    expect(glob('*a*a*a*a*[b]')(as)).toBe(false);
    const segs = 'a/'.repeat(50_000);
    expect(glob('**a**a**a**a**b')(segs)).toBe(false);
    expect(glob('**a**a**a**a**b')(`${segs}b`)).toBe(true);
    expect(glob('**a*a**a*a**[b]')(`${segs}aaaab`)).toBe(true);
    expect(glob('**a*a**a*a**[b]')(`${segs}aab`)).toBe(false);
  });

  it('can be reused: a compiled matcher keeps no state between calls', () => {
    const m = glob('/v1/**/x[0-9]');
    const paths = ['/v1/a/x1', '/v1/a/x', '/v1/a/b/x9', '/v1/x1', '/v2/a/x1'];
    const first = paths.map(m);
    for (let i = 0; i < 3; i++) expect(paths.map(m)).toEqual(first);
    expect(first).toEqual([true, false, true, false, false]);
  });
});

describe('compilePattern prefix', () => {
  it.each<[string, string, boolean]>([
    ['/v1/key/create/*', '/v1/key/create/my-key', true],
    ['/v1/key/create/*', '/v1/key/create/a/b', true], // '*' crosses '/'
    ['/v1/key/create/*', '/v1/key/create/', true],
    ['/v1/key/create/*', '/v1/key/create', false],
    ['/v1/key/*', '/v1/key/delete/k', true],
    ['/v1/status', '/v1/status', true],
    ['/v1/status', '/v1/status/', false],
    ['/v1/identity/assign/*/*', '/v1/identity/assign/af43c/my-policy', false], // inner '*' is literal
    ['/v1/identity/assign/*/*', '/v1/identity/assign/*/my-policy', true],
    ['/v1/*/list', '/v1/*/list', true],
    ['/v1/*/list', '/v1/key/list', false],
    ['*', '', true],
    ['*', '/anything', true],
    ['**', '*x', true],
    ['**', 'x', false],
    ['[a-', '[a-', true], // no validation, no metacharacters
    ['/v1/?', '/v1/a', false],
    ['\\*', '\\anything', true],
  ])('%j on %j -> %j', (pattern, path, expected) => {
    expect(prefix(pattern)(path)).toBe(expected);
  });

  it('never matches with the empty pattern', () => {
    expect(prefix('')('')).toBe(false);
    expect(prefix('')('/v1/status')).toBe(false);
  });

  it('accepts any pattern', () => {
    fc.assert(
      fc.property(fc.string(), (p) => {
        expect(() => prefix(p)).not.toThrow();
      }),
    );
  });

  it('a pattern ending in * matches exactly the paths that start with the rest', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (base, suffix, other) => {
        const m = prefix(`${base}*`);
        expect(m(base + suffix)).toBe(true);
        expect(m(other)).toBe(other.startsWith(base));
      }),
    );
  });
});

describe('both modes', () => {
  const literal = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[*?[\\]/.test(s));

  it('a literal pattern matches exactly itself', () => {
    fc.assert(
      fc.property(literal, fc.string(), (p, other) => {
        for (const mode of ['glob', 'prefix'] as const) {
          const m = compilePattern(p, mode);
          expect(m(p)).toBe(true);
          expect(m(other)).toBe(other === p);
          expect(m(`${p}/`)).toBe(false);
          expect(m(p.slice(0, -1))).toBe(false);
        }
      }),
    );
  });

  it('a literal prefix plus * matches the same single-segment names in both modes', () => {
    const name = fc.string({ unit: fc.constantFrom(...'abcXYZ019_-'.split('')), maxLength: 20 });
    fc.assert(
      fc.property(literal, name, (p, n) => {
        expect(compilePattern(`${p}*`, 'glob')(p + n)).toBe(true);
        expect(compilePattern(`${p}*`, 'prefix')(p + n)).toBe(true);
      }),
    );
  });
});
