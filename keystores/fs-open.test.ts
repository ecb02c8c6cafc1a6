/**
 * Issue 12: a keystore root that cannot be created fails start-up at once with its errno.
 * Node's recursive mkdir never returns for `/proc/nope/data` (procfs answers ENOENT for a
 * folder whose parent exists) and spun a core at 98% with no output.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FSKeyStore } from './fs.js';

describe('FSKeyStore.open', () => {
  it.skipIf(!existsSync('/proc/self'))('fails with the errno for a root under /proc instead of spinning', async () => {
    // Not vitest's timeout: the old loop never yields for long, so the test must bound it itself.
    const outcome = await Promise.race([
      FSKeyStore.open('/proc/nope/data').then(
        () => 'opened',
        (err: Error) => err.message,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still spinning after 5 s'), 5000).unref()),
    ]);
    expect(outcome).toBe('keystore: cannot create the root: ENOENT');
  });

  it('creates missing parents (mode 0700), accepts an existing folder, refuses a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keygate-fs-open-'));
    try {
      const root = join(dir, 'a', 'b', 'c');
      await (
        await FSKeyStore.open(root)
      ).swept;
      expect(statSync(root).isDirectory()).toBe(true);
      expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
      await FSKeyStore.open(root);
      writeFileSync(join(dir, 'file'), '');
      await expect(FSKeyStore.open(join(dir, 'file'))).rejects.toThrow('keystore: root is not a directory');
      await expect(FSKeyStore.open(join(dir, 'file', 'below'))).rejects.toThrow('keystore: root is not a directory');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
