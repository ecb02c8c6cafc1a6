import { compilePattern, PatternError, type MatchMode, type PathMatcher } from './pattern.js';

/**
 * A named set of allow and deny path patterns, compiled once at load.
 * A request path is accepted only if no deny pattern matches it and at least
 * one allow pattern does (deny beats allow; default deny) — the same
 * precedence in every KES generation.
 */
export class Policy {
  readonly name: string;
  readonly mode: MatchMode;
  /**
   * The patterns as configured. In `glob` mode empty patterns are dropped, as
   * classic KES did when it loaded a policy; in `prefix` mode they are kept
   * (they never match) so the policy reads back exactly as configured.
   */
  readonly allow: readonly string[];
  readonly deny: readonly string[];

  readonly #allow: readonly PathMatcher[];
  readonly #deny: readonly PathMatcher[];

  /** Throws PatternError (naming the policy and the rule) if a glob pattern is malformed. */
  constructor(name: string, rules: { allow: string[]; deny: string[] }, mode: MatchMode) {
    this.name = name;
    this.mode = mode;
    const keep = (patterns: readonly string[]): string[] => (mode === 'glob' ? patterns.filter((p) => p !== '') : [...patterns]);
    this.allow = Object.freeze(keep(rules.allow));
    this.deny = Object.freeze(keep(rules.deny));
    this.#allow = compileAll(name, 'allow', this.allow, mode);
    this.#deny = compileAll(name, 'deny', this.deny, mode);
  }

  /** Whether a request for `path` (the raw URL path; method and query play no part) is allowed. */
  verify(path: string): boolean {
    for (const m of this.#deny) if (m(path)) return false;
    for (const m of this.#allow) if (m(path)) return true;
    return false;
  }
}

function compileAll(name: string, rule: 'allow' | 'deny', patterns: readonly string[], mode: MatchMode): PathMatcher[] {
  return patterns.map((p) => {
    try {
      return compilePattern(p, mode);
    } catch (err) {
      if (err instanceof PatternError) throw new PatternError(err.pattern, err.reason, `policy '${name}' ${rule} rule`);
      throw err;
    }
  });
}
