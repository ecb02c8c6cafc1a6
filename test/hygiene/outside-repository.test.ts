/**
 * Tests read only what the repository holds (issue 12): the fs guard installed by
 * test/setup-fs-guard.ts refuses a read beside the repository, and no test source names
 * the sibling folder the KES vectors used to come from.
 */
import { describe, expect, it } from 'vitest';
import fs, { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { outsideRepository, repositoryRoot } from '../helpers/fs-guard.js';

// Spelled in two parts so this file does not trip its own scan below.
const SIBLING = ['..', 'shared'].join('/');
const vector = `${SIBLING}/vectors/kes/names.json`;
const inTemporaryFolder = repositoryRoot.startsWith(realpathSync(tmpdir()) + sep);

describe('the fs guard', () => {
  it('refuses reads beside the repository, whether or not the file exists', async () => {
    const fromTest = new URL(`../../${vector}`, import.meta.url);
    expect(() => readFileSync(fromTest, 'utf8')).toThrow(/test read outside the repository: .*vectors\/kes\/names\.json/);
    expect(() => readFileSync(join(repositoryRoot, vector))).toThrow(/outside the repository/);
    expect(() => fs.openSync(join(repositoryRoot, vector), 'r')).toThrow(/outside the repository/);
    // Other siblings too, unless the checkout sits in the temporary folder (a clone there uses it for scratch files).
    if (!inTemporaryFolder) {
      expect(() => fs.readFileSync(join(repositoryRoot, '..', 'no-such-sibling', 'x.json'))).toThrow(/outside the repository/);
      expect(() => readdirSync(join(repositoryRoot, '..'))).toThrow(/outside the repository/);
    }
    await expect(readFile(join(repositoryRoot, vector))).rejects.toThrow(/outside the repository/);
    await expect(fs.promises.open(join(repositoryRoot, vector))).rejects.toThrow(/outside the repository/);
    expect(() => fs.readFile(join(repositoryRoot, vector), () => undefined)).toThrow(/outside the repository/);
    expect(() => fs.createReadStream(join(repositoryRoot, vector))).toThrow(/outside the repository/);
  });

  it('lets tests read the repository and anywhere else (temp folders, system files)', async () => {
    expect(readFileSync(join(repositoryRoot, 'test/vectors/kes/names.json'), 'utf8')).toContain('"source"');
    expect((await readFile(new URL('../vectors/README.md', import.meta.url), 'utf8')).length).toBeGreaterThan(0);
    expect(readFileSync('/etc/hostname', 'utf8').length).toBeGreaterThan(0);
    expect(outsideRepository('/tmp/x', '/work/main', '/tmp')).toBeUndefined();
    // A sibling whose name starts like the repository's is still outside it.
    expect(outsideRepository('/work/main-old/x', '/work/main', '/tmp')).toBe('/work/main-old/x');
    expect(outsideRepository(3)).toBeUndefined();
    // A clone inside the temporary folder still uses it for scratch files, but never reads the shared folder beside it.
    expect(outsideRepository('/tmp/keygate-test-x/a', '/tmp/clone', '/tmp')).toBeUndefined();
    expect(outsideRepository('/tmp/shared/vectors/x.json', '/tmp/clone', '/tmp')).toBe('/tmp/shared/vectors/x.json');
    expect(outsideRepository('/work/shared/x', '/work/main', '/tmp')).toBe('/work/shared/x');
  });
});

describe('test sources', () => {
  it(`never name ${SIBLING}, but for its tools`, () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.(ts|js|mjs|cjs)$/.test(name)) {
          const text = readFileSync(path, 'utf8');
          text.split('\n').forEach((line, i) => {
            // Tools beside the checkout may be run (tests skip without them); nothing else there may be named.
            if (line.replaceAll(`${SIBLING}/tools/`, '').includes(SIBLING)) offenders.push(`${relative(repositoryRoot, path)}:${i + 1}`);
          });
        }
      }
    };
    for (const top of ['src', 'keystores', 'test', 'bench']) walk(join(repositoryRoot, top));
    expect(offenders).toEqual([]);
  });
});
