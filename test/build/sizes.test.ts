/**
 * Size rules of issue 18 for runtime code (src/ and keystores/, tests and test-only modules
 * left out): no function longer than 80 lines, and a median source file under 150 lines.
 * A function that grows past the bound is split where it does several things, as
 * startServer, keyCommand and migrate were.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const repoRoot = new URL('../../', import.meta.url).pathname;
/** Shared by the tests of every keystore, never part of the build (tsconfig.build.json leaves them out). */
const TEST_ONLY = new Set(['keystores/contract.ts', 'keystores/vault/testing.ts']);
const MAX_FUNCTION_LINES = 80;
const MAX_MEDIAN_FILE_LINES = 150;

const files = ['src', 'keystores'].flatMap((dir) =>
  readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)))
    .filter((f) => !TEST_ONLY.has(f)),
);

/** Functions, methods and arrow functions with a body longer than `max` lines, as `lines file:line name`. */
function longFunctions(path: string, text: string, max: number): string[] {
  const src = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isFunctionLike(n) && 'body' in n && n.body) || ts.isArrowFunction(n)) {
      const first = src.getLineAndCharacterOfPosition(n.getStart(src)).line;
      const last = src.getLineAndCharacterOfPosition(n.getEnd()).line;
      const name = 'name' in n && n.name ? (n.name as ts.Node).getText(src) : '(anonymous)';
      if (last - first + 1 > max) out.push(`${last - first + 1} ${path}:${first + 1} ${name}`);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

describe('sizes of runtime code', () => {
  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it(`has no function longer than ${MAX_FUNCTION_LINES} lines`, () => {
    const long = files.flatMap((f) => longFunctions(f, readFileSync(join(repoRoot, f), 'utf8'), MAX_FUNCTION_LINES));
    expect(long).toEqual([]);
  });

  it(`keeps the median file under ${MAX_MEDIAN_FILE_LINES} lines`, () => {
    const lines = files.map((f) => readFileSync(join(repoRoot, f), 'utf8').split('\n').length).sort((a, b) => a - b);
    expect(lines[Math.floor(lines.length / 2)]).toBeLessThan(MAX_MEDIAN_FILE_LINES);
  });

  it('notices a long function', () => {
    const body = Array.from({ length: MAX_FUNCTION_LINES + 1 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    expect(longFunctions('x.ts', `function big() {\n${body}\n}\n`, MAX_FUNCTION_LINES)).toEqual([`${MAX_FUNCTION_LINES + 3} x.ts:1 big`]);
    expect(longFunctions('x.ts', 'const f = () => 1;\n', MAX_FUNCTION_LINES)).toEqual([]);
  });
});
