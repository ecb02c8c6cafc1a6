/**
 * Policy path patterns, compiled once when a policy is loaded so that a
 * request only pays for matching, never for parsing.
 *
 * Two generations of KES semantics are supported (see kes.md §2.2):
 * - `glob`: classic KES (Go `path.Match`) plus keygate's `**`.
 * - `prefix`: KES 2023-10 onward (kms-go `kes.Policy` `match`).
 */

export type MatchMode = 'glob' | 'prefix';

/** A pattern that cannot be compiled. `message` names the pattern and what is wrong with it. */
export class PatternError extends Error {
  /** The offending pattern, verbatim. */
  readonly pattern: string;
  /** What is wrong with it, without the pattern (e.g. "unterminated character class"). */
  readonly reason: string;

  /** `context` (e.g. "policy 'minio' allow rule") is prepended to the message. */
  constructor(pattern: string, reason: string, context?: string) {
    super(`${context === undefined ? '' : `${context}: `}invalid pattern '${pattern}': ${reason}`);
    this.pattern = pattern;
    this.reason = reason;
  }

  override get name(): string {
    return 'PatternError';
  }
}

export type PathMatcher = (path: string) => boolean;

/**
 * Compiles `pattern` into a predicate over URL paths.
 *
 * `glob`: Go `path.Match` syntax — `*` matches any run of non-`/` characters,
 * `?` one non-`/` character, `[...]` a class (ranges `a-z`, negation `[^...]`;
 * as in Go a class may match `/`), `\` escapes the next character — plus `**`
 * (two or more consecutive stars), which matches any run of characters
 * including `/`. A malformed pattern (unterminated or empty class, range
 * without a bound, trailing `\`) throws PatternError. The empty pattern
 * compiles to a matcher that never matches.
 *
 * `prefix`: a pattern ending in `*` matches every path that starts with the
 * pattern minus that `*`; any other pattern matches only the identical path;
 * `*` elsewhere is literal; the empty pattern never matches. Never throws.
 *
 * Glob matching never backtracks: O(path length × pattern length) at worst,
 * whatever the pattern (`*a*a*a*a*b` included).
 */
export function compilePattern(pattern: string, mode: MatchMode): PathMatcher {
  if (pattern === '') return never;
  if (mode === 'prefix') return compilePrefix(pattern);
  return compileGlob(pattern);
}

const never: PathMatcher = () => false;

function compilePrefix(pattern: string): PathMatcher {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (path) => path.startsWith(prefix);
  }
  return (path) => path === pattern;
}

// ---------------------------------------------------------------------------
// Glob

const SLASH = 0x2f;
const STAR_CH = 0x2a;

const Kind = {
  Literal: 0,
  Any: 1, // '?'
  Class: 2, // '[...]'
  Star: 3, // '*'
  GlobStar: 4, // '**'
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface Token {
  kind: Kind;
  /** Literal: the code point. */
  cp: number;
  /** Class: inclusive [lo, hi] pairs. */
  ranges: readonly number[];
  negated: boolean;
}

const token = (kind: Kind, cp = 0, ranges: readonly number[] = [], negated = false): Token => ({
  kind,
  cp,
  ranges,
  negated,
});

function cpWidth(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

/**
 * Tokenizes a glob pattern, rejecting exactly what Go's `path.Match` rejects
 * with ErrBadPattern (so configs valid for classic KES stay valid here).
 */
function parseGlob(pattern: string): Token[] {
  const bad = (reason: string): PatternError => new PatternError(pattern, reason);
  const n = pattern.length;
  const tokens: Token[] = [];
  let i = 0;

  // Go's getEsc: one class member, possibly escaped. Go also requires the
  // class to continue after every member, hence the final end check.
  const classChar = (isUpper: boolean): number => {
    if (i >= n) throw bad('unterminated character class');
    const c = pattern.charCodeAt(i);
    if (c === 0x5d /* ] */) {
      throw bad(isUpper ? 'character range has no upper bound' : 'empty character class');
    }
    if (c === 0x2d /* - */) {
      throw bad(isUpper ? "invalid character range (escape '-' as '\\-')" : "character range has no lower bound (escape '-' as '\\-')");
    }
    if (c === 0x5c /* \ */) {
      i++;
      if (i >= n) throw bad('unterminated character class');
    }
    const cp = pattern.codePointAt(i) as number;
    i += cpWidth(cp);
    if (i >= n) throw bad('unterminated character class');
    return cp;
  };

  while (i < n) {
    const cp = pattern.codePointAt(i) as number;
    switch (cp) {
      case STAR_CH: {
        let j = i;
        while (j < n && pattern.charCodeAt(j) === STAR_CH) j++;
        tokens.push(token(j - i >= 2 ? Kind.GlobStar : Kind.Star));
        i = j;
        break;
      }
      case 0x3f /* ? */:
        tokens.push(token(Kind.Any));
        i++;
        break;
      case 0x5c /* \ */: {
        if (i + 1 >= n) throw bad('trailing backslash (escapes nothing)');
        const lit = pattern.codePointAt(i + 1) as number;
        tokens.push(token(Kind.Literal, lit));
        i += 1 + cpWidth(lit);
        break;
      }
      case 0x5b /* [ */: {
        i++;
        let negated = false;
        if (i < n && pattern.charCodeAt(i) === 0x5e /* ^ */) {
          negated = true;
          i++;
        }
        const ranges: number[] = [];
        for (;;) {
          if (i < n && pattern.charCodeAt(i) === 0x5d /* ] */ && ranges.length > 0) {
            i++;
            break;
          }
          const lo = classChar(false);
          let hi = lo;
          if (pattern.charCodeAt(i) === 0x2d /* - */) {
            i++;
            hi = classChar(true);
          }
          ranges.push(lo, hi);
        }
        tokens.push(token(Kind.Class, 0, ranges, negated));
        break;
      }
      default:
        tokens.push(token(Kind.Literal, cp));
        i += cpWidth(cp);
    }
  }
  return tokens;
}

function literalText(tokens: readonly Token[]): string {
  return tokens.map((t) => String.fromCodePoint(t.cp)).join('');
}

function compileGlob(pattern: string): PathMatcher {
  const tokens = parseGlob(pattern);
  const last = tokens.length - 1;
  const literalUpTo = tokens.findIndex((t) => t.kind !== Kind.Literal);

  // Fast paths for the shapes real policies use: "/v1/status",
  // "/v1/key/create/*" and "/v1/key/**".
  if (literalUpTo === -1) {
    const text = literalText(tokens);
    return (path) => path === text;
  }
  if (literalUpTo === last) {
    const prefix = literalText(tokens.slice(0, last));
    const at = prefix.length;
    const lastKind = (tokens[last] as Token).kind;
    if (lastKind === Kind.Star) return (path) => path.startsWith(prefix) && path.indexOf('/', at) === -1;
    if (lastKind === Kind.GlobStar) return (path) => path.startsWith(prefix);
  }
  // Without '**' the pattern is one classic KES could load, so it gets Go's
  // exact algorithm, quirks included; '**' is ours and gets plain
  // "some way of matching exists" semantics.
  return tokens.some((t) => t.kind === Kind.GlobStar) ? simulate(tokens) : goMatcher(tokens);
}

function classMatches(t: Token, cp: number): boolean {
  const r = t.ranges;
  let hit = false;
  for (let k = 0; k < r.length; k += 2) {
    if ((r[k] as number) <= cp && cp <= (r[k + 1] as number)) {
      hit = true;
      break;
    }
  }
  return hit !== t.negated;
}

interface Chunk {
  /** Preceded by '*'. */
  star: boolean;
  /** Stars never occur here; every token consumes exactly one character. */
  tokens: readonly Token[];
}

/** Go's scanChunk, done once: the pattern as a sequence of optional-star + fixed-width chunks. */
function chunksOf(tokens: readonly Token[]): Chunk[] {
  const chunks: Chunk[] = [];
  let current: { star: boolean; tokens: Token[] } = { star: false, tokens: [] };
  for (const t of tokens) {
    if (t.kind === Kind.Star) {
      if (current.star || current.tokens.length > 0) chunks.push(current);
      current = { star: true, tokens: [] };
    } else {
      current.tokens.push(t);
    }
  }
  chunks.push(current);
  return chunks;
}

/** Matches a fixed-width chunk at `pos`; returns the position after it, or -1. */
function matchChunkAt(chunk: readonly Token[], path: string, pos: number): number {
  for (const t of chunk) {
    if (pos >= path.length) return -1;
    const cp = path.codePointAt(pos) as number;
    switch (t.kind) {
      case Kind.Literal:
        if (cp !== t.cp) return -1;
        break;
      case Kind.Any:
        if (cp === SLASH) return -1;
        break;
      default:
        if (!classMatches(t, cp)) return -1;
    }
    pos += cpWidth(cp);
  }
  return pos;
}

/**
 * Go's `path.Match` loop: each star-led chunk is committed at the first
 * place it matches (for the last chunk: the first place that also ends the
 * path), never revisited. That bounds the work to O(path × pattern), and it
 * is also why Go misses some matches when a class matches '/' after a star
 * (`*[^a]*` does not match `x/y`); classic KES had the same blind spot, so
 * a migrated policy decides exactly as it did there.
 */
function goMatcher(tokens: readonly Token[]): PathMatcher {
  const chunks = chunksOf(tokens);
  const lastChunk = chunks.length - 1;
  return (path) => {
    let pos = 0;
    next: for (let c = 0; c <= lastChunk; c++) {
      const { star, tokens: chunk } = chunks[c] as Chunk;
      const isLast = c === lastChunk;
      if (star && chunk.length === 0) return path.indexOf('/', pos) === -1; // trailing '*'
      const end = matchChunkAt(chunk, path, pos);
      if (end !== -1 && (end === path.length || !isLast)) {
        pos = end;
        continue;
      }
      if (star) {
        // Let the star eat one more character at a time, never a '/'.
        for (let i = pos; i < path.length;) {
          const cp = path.codePointAt(i) as number;
          if (cp === SLASH) break;
          i += cpWidth(cp);
          const end2 = matchChunkAt(chunk, path, i);
          if (end2 === -1 || (isLast && end2 !== path.length)) continue;
          pos = end2;
          continue next;
        }
      }
      return false;
    }
    return pos === path.length;
  };
}

/**
 * Runs the pattern as an NFA over the path (Thompson-style position sets):
 * state `s` means "tokens[0..s) have consumed the input so far". Stars loop
 * on themselves and may be skipped, so every state is visited at most once
 * per input character — no backtracking, whatever the pattern.
 */
function simulate(tokens: readonly Token[]): PathMatcher {
  const m = tokens.length; // state m = whole pattern consumed
  // Buffers are reused across calls: matching is synchronous and calls no
  // user code, so two matches can never interleave.
  let cur = new Int32Array(m + 1);
  let next = new Int32Array(m + 1);
  const seen = new Uint32Array(m + 1);
  let gen = 0;

  const add = (list: Int32Array, count: number, s: number): number => {
    for (;;) {
      if (seen[s] === gen) return count;
      seen[s] = gen;
      list[count++] = s;
      if (s === m) return count;
      const kind = (tokens[s] as Token).kind;
      if (kind !== Kind.Star && kind !== Kind.GlobStar) return count;
      s++; // a star may match the empty run
    }
  };

  const bump = (): void => {
    if (++gen === 0xffffffff) {
      seen.fill(0);
      gen = 1;
    }
  };

  return (path) => {
    bump();
    let curCount = add(cur, 0, 0);
    for (let i = 0; i < path.length;) {
      const cp = path.codePointAt(i) as number;
      i += cpWidth(cp);
      bump();
      let nextCount = 0;
      for (let k = 0; k < curCount; k++) {
        const s = cur[k] as number;
        if (s === m) continue;
        const t = tokens[s] as Token;
        switch (t.kind) {
          case Kind.Literal:
            if (cp === t.cp) nextCount = add(next, nextCount, s + 1);
            break;
          case Kind.Any:
            if (cp !== SLASH) nextCount = add(next, nextCount, s + 1);
            break;
          case Kind.Class:
            if (classMatches(t, cp)) nextCount = add(next, nextCount, s + 1);
            break;
          case Kind.Star:
            if (cp !== SLASH) nextCount = add(next, nextCount, s);
            break;
          case Kind.GlobStar:
            nextCount = add(next, nextCount, s);
            break;
        }
      }
      if (nextCount === 0) return false;
      [cur, next] = [next, cur];
      curCount = nextCount;
    }
    for (let k = 0; k < curCount; k++) if (cur[k] === m) return true;
    return false;
  };
}
