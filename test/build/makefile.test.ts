/**
 * `make run` and `make test` rebuild only when a source changed (issue 12): run against a
 * scratch tree with the repository's Makefile, where every target is already up to date,
 * make must have nothing to do.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const repoRoot = new URL('../../', import.meta.url).pathname;

function hasMake(): boolean {
  try {
    execFileSync('make', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasMake())('Makefile', () => {
  it('does not rebuild dist/ when nothing changed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keygate-make-'));
    try {
      copyFileSync(join(repoRoot, 'Makefile'), join(dir, 'Makefile'));
      const files = [
        'package.json',
        'package-lock.json',
        'node_modules/.package-lock.json',
        'tsconfig.json',
        'tsconfig.build.json',
        'src/a.ts',
        'keystores/b.ts',
        'dist/.built',
      ];
      // Oldest first: each file is newer than everything it depends on.
      const t0 = Date.now() / 1000 - 1000;
      files.forEach((f, i) => {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), '');
        const t = f === 'dist/.built' ? t0 + 100 : t0 + i;
        utimesSync(join(dir, f), t, t);
      });
      const dry = (): string => execFileSync('make', ['-n', 'build'], { cwd: dir, encoding: 'utf8' });
      expect(dry()).not.toContain('tsc');

      // …and does when a source is newer than the last build.
      const later = t0 + 200;
      utimesSync(join(dir, 'src/a.ts'), later, later);
      expect(dry()).toContain('tsc -p tsconfig.build.json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
