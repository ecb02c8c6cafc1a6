import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PatternError, Policy, type MatchMode } from './index.js';

interface VerifyCase {
  id: string;
  semantics: MatchMode;
  allow: string[];
  deny: string[];
  path: string;
  expect: 'allow' | 'deny';
  under_glob_derived?: 'allow' | 'deny';
  under_prefix_derived?: 'allow' | 'deny';
}
interface Vectors {
  cases: VerifyCase[];
  glob_pattern_validation: { vectors: { patterns: string[]; expect: 'ok' | 'error'; source: string }[] };
  glob_policy_json: {
    vectors: { body: string; expect: 'ok' | 'error'; allow?: string[]; deny?: string[]; source: string }[];
  };
}

const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/kes/policy.json', import.meta.url), 'utf8')) as Vectors;

const decide = (p: Policy, path: string): 'allow' | 'deny' => (p.verify(path) ? 'allow' : 'deny');

describe('policy.json verify cases', () => {
  it('has the cases this suite expects', () => {
    expect(vectors.cases.length).toBe(50);
  });

  it.each(vectors.cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const p = new Policy('p', { allow: c.allow, deny: c.deny }, c.semantics);
    expect(decide(p, c.path)).toBe(c.expect);
    if (c.under_glob_derived !== undefined) {
      expect(decide(new Policy('p', { allow: c.allow, deny: c.deny }, 'glob'), c.path)).toBe(c.under_glob_derived);
    }
    if (c.under_prefix_derived !== undefined) {
      expect(decide(new Policy('p', { allow: c.allow, deny: c.deny }, 'prefix'), c.path)).toBe(c.under_prefix_derived);
    }
  });
});

describe('policy.json glob pattern validation (classic NewPolicy)', () => {
  it.each(vectors.glob_pattern_validation.vectors.map((v) => [v.source, v] as const))('%s', (_src, v) => {
    for (const rules of [
      { allow: v.patterns, deny: [] },
      { allow: [], deny: v.patterns },
    ]) {
      const make = () => new Policy('p', rules, 'glob');
      if (v.expect === 'ok') expect(make).not.toThrow();
      else expect(make).toThrow(PatternError);
      // Current KES validates nothing.
      expect(() => new Policy('p', rules, 'prefix')).not.toThrow();
    }
  });
});

describe('policy.json glob policy bodies (classic /v1/policy/write)', () => {
  // Body decoding (unknown fields, null lists) belongs to the API layer; this
  // checks what the Policy itself owes: empty patterns dropped, a bad one fatal.
  it.each(vectors.glob_policy_json.vectors.map((v) => [v.source, v] as const))('%s', (_src, v) => {
    const body = JSON.parse(v.body) as { allow?: string[] | null; deny?: string[] | null };
    const make = () => new Policy('p', { allow: body.allow ?? [], deny: body.deny ?? [] }, 'glob');
    if (v.expect === 'error') {
      expect(make).toThrow(PatternError);
      return;
    }
    const p = make();
    expect(p.allow).toEqual(v.allow);
    expect(p.deny).toEqual(v.deny);
  });
});

describe('Policy', () => {
  it('denies by default and when empty', () => {
    for (const mode of ['glob', 'prefix'] as const) {
      const p = new Policy('empty', { allow: [], deny: [] }, mode);
      expect(p.verify('/v1/status')).toBe(false);
      expect(p.verify('')).toBe(false);
    }
  });

  it('lets deny beat allow', () => {
    for (const mode of ['glob', 'prefix'] as const) {
      const p = new Policy('p', { allow: ['/v1/key/create/*'], deny: ['/v1/key/create/internal*'] }, mode);
      expect(p.verify('/v1/key/create/mine')).toBe(true);
      expect(p.verify('/v1/key/create/internal-1')).toBe(false);
    }
  });

  it('supports ** in glob mode', () => {
    const p = new Policy('ops', { allow: ['/v1/key/**'], deny: ['/v1/key/delete/**'] }, 'glob');
    expect(p.verify('/v1/key/create/a')).toBe(true);
    expect(p.verify('/v1/key/generate/a/b')).toBe(true);
    expect(p.verify('/v1/key/delete/a')).toBe(false);
    expect(p.verify('/v1/policy/list/a')).toBe(false);
    const q = new Policy('q', { allow: ['/v1/**/a'], deny: [] }, 'glob');
    expect(q.verify('/v1/key/create/a')).toBe(true);
    expect(q.verify('/v1/key/create/b')).toBe(false);
  });

  it('exposes its name, mode and rules, frozen', () => {
    const allow = ['/v1/key/create/*'];
    const p = new Policy('minio', { allow, deny: ['/v1/key/delete/*'] }, 'prefix');
    expect(p.name).toBe('minio');
    expect(p.mode).toBe('prefix');
    expect(p.allow).toEqual(['/v1/key/create/*']);
    expect(p.deny).toEqual(['/v1/key/delete/*']);
    expect(Object.isFrozen(p.allow)).toBe(true);
    expect(Object.isFrozen(p.deny)).toBe(true);
    allow.push('/v1/status');
    expect(p.allow).toEqual(['/v1/key/create/*']); // copied, not aliased
    expect(p.verify('/v1/status')).toBe(false);
  });

  it('drops empty patterns in glob mode but keeps them (never matching) in prefix mode', () => {
    const rules = { allow: ['', '/v1/status'], deny: [''] };
    const g = new Policy('p', rules, 'glob');
    expect(g.allow).toEqual(['/v1/status']);
    expect(g.deny).toEqual([]);
    const p = new Policy('p', rules, 'prefix');
    expect(p.allow).toEqual(['', '/v1/status']);
    expect(p.deny).toEqual(['']);
    for (const pol of [g, p]) {
      expect(pol.verify('/v1/status')).toBe(true);
      expect(pol.verify('')).toBe(false);
    }
  });

  it('names the policy, the rule and the pattern when a pattern is malformed', () => {
    let caught: unknown;
    try {
      new Policy('minio', { allow: ['/v1/status'], deny: ['/v1/key/[a-'] }, 'glob');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PatternError);
    const err = caught as PatternError;
    expect(err.message).toBe("policy 'minio' deny rule: invalid pattern '/v1/key/[a-': unterminated character class");
    expect(err.pattern).toBe('/v1/key/[a-');
  });
});
