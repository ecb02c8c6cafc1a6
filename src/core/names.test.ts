import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidName, isValidPattern } from './names.js';

interface Vector {
  value: string;
  valid: boolean;
  length?: number;
  codepoints?: string[];
  under_current_rules_derived?: boolean;
}
type Section = { names: Vector[]; patterns?: Vector[] };
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/kes/names.json', import.meta.url), 'utf8')) as {
  current: Required<Section>;
  legacy_v0_19_to_v0_22: Required<Section>;
  fs_keystore: Section;
  derived_boundary_cases: Required<Section>;
};

const label = (v: Vector) => [JSON.stringify(v.value), v] as const;

/** The vectors' own sanity fields, so a mangled file cannot pass silently. */
function checkVector(v: Vector): void {
  if (v.length !== undefined) expect(Buffer.byteLength(v.value, 'utf8')).toBe(v.length);
  if (v.codepoints !== undefined) {
    expect([...v.value].map((c) => `U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`)).toEqual(v.codepoints);
  }
}

describe('names.json current rules', () => {
  it.each(vectors.current.names.map(label))('name %s', (_l, v) => {
    checkVector(v);
    expect(isValidName(v.value)).toBe(v.valid);
  });
  it.each(vectors.current.patterns.map(label))('pattern %s', (_l, v) => {
    checkVector(v);
    expect(isValidPattern(v.value)).toBe(v.valid);
  });
});

describe('names.json derived boundary cases', () => {
  it.each(vectors.derived_boundary_cases.names.map(label))('name %s', (_l, v) => {
    checkVector(v);
    expect(isValidName(v.value)).toBe(v.valid);
  });
  it.each(vectors.derived_boundary_cases.patterns.map(label))('pattern %s', (_l, v) => {
    checkVector(v);
    expect(isValidPattern(v.value)).toBe(v.valid);
  });
});

describe('names.json legacy v0.19–v0.22 vectors under current rules', () => {
  const derived = (vs: Vector[]) => vs.filter((v) => v.under_current_rules_derived !== undefined).map(label);
  it.each(derived(vectors.legacy_v0_19_to_v0_22.names))('name %s', (_l, v) => {
    expect(isValidName(v.value)).toBe(v.under_current_rules_derived);
  });
  it.each(derived(vectors.legacy_v0_19_to_v0_22.patterns))('pattern %s', (_l, v) => {
    expect(isValidPattern(v.value)).toBe(v.under_current_rules_derived);
  });
});

describe('names.json fs keystore names', () => {
  // The FS keystore's extra rule only ever narrows: nothing it rejects may be
  // a valid name (so no name can escape the keystore directory).
  it.each(vectors.fs_keystore.names.filter((v) => !v.valid).map(label))('%s is not a valid name', (_l, v) => {
    expect(isValidName(v.value)).toBe(false);
  });
});

describe('isValidName / isValidPattern', () => {
  const nameChar = fc.constantFrom(...'0123456789ABCZabcz_-'.split(''));

  it('every valid name is also a valid pattern, and so is name-without-last-char + "*"', () => {
    fc.assert(
      fc.property(fc.string({ unit: nameChar, minLength: 1, maxLength: 85 }), (s) => {
        if (!isValidName(s)) return;
        expect(isValidPattern(s)).toBe(true);
        expect(isValidPattern(`${s.slice(0, -1)}*`)).toBe(true);
      }),
    );
  });

  it('matches a regular-expression statement of the rules', () => {
    const nameRe = /^(?!_$)(?!-)[0-9A-Za-z_-]{1,80}(?<!-)$/;
    const patternRe = /^(?:|\*|(?!_$)(?!-)[0-9A-Za-z_-]{1,80}(?<!-)|(?!-)[0-9A-Za-z_-]{1,79}\*)$/;
    const anyChar = fc.constantFrom(...'aZ9_-*./ é'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(nameChar, anyChar), maxLength: 90 }), (s) => {
        expect(isValidName(s)).toBe(nameRe.test(s));
        expect(isValidPattern(s)).toBe(patternRe.test(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('counts length up to exactly 80', () => {
    expect(isValidName('a'.repeat(80))).toBe(true);
    expect(isValidName('a'.repeat(81))).toBe(false);
    expect(isValidPattern(`${'a'.repeat(79)}*`)).toBe(true);
    expect(isValidPattern(`${'a'.repeat(80)}*`)).toBe(false);
  });
});
