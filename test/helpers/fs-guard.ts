/**
 * No test may read outside the repository (issue 12): a fresh clone has no sibling folders,
 * so a test that reads a sibling folder passes here and fails for everyone else. The guard makes
 * such a read fail on this machine too, with a message naming the path, before the file system
 * is even asked (a missing sibling would otherwise surface as a bare ENOENT).
 *
 * Only reads of content are refused (read, open, stream, list): `existsSync`/`stat` stay free,
 * so a test may still look for an optional tool beside the repository and skip without it;
 * spawning such a tool does not go through fs at all.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repositoryRoot = fs.realpathSync(fileURLToPath(new URL('../../', import.meta.url)));

export class OutsideRepositoryError extends Error {
  readonly code = 'EOUTSIDEREPO';
}

function pathOf(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (target instanceof URL) return target.protocol === 'file:' ? fileURLToPath(target) : undefined;
  if (Buffer.isBuffer(target)) return target.toString('utf8');
  return undefined; // a file descriptor or a FileHandle: opened already, through a checked call
}

const temporary = fs.realpathSync(tmpdir());

/**
 * The resolved path when `target` lies beside the repository (under its parent, outside it).
 * The temporary folder stays open even then: a clone in /tmp (the first-hour script's) still
 * writes and reads its scratch files there.
 */
export function outsideRepository(target: unknown, root = repositoryRoot, temp = temporary): string | undefined {
  const path = pathOf(target);
  if (path === undefined) return undefined;
  const full = resolve(path);
  const under = (dir: string) => full === dir || full.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  if (under(root)) return undefined;
  // The workplace's shared folder beside the checkout is refused wherever the checkout is,
  // the temporary folder included (CI may clone there).
  if (under(join(dirname(root), 'shared'))) return full;
  return under(dirname(root)) && !under(temp) ? full : undefined;
}

function check(target: unknown): void {
  const full = outsideRepository(target);
  if (full !== undefined) {
    throw new OutsideRepositoryError(
      `test read outside the repository: ${full} (a fresh clone has no sibling folders; copy what the test needs into the repository, e.g. test/vectors/)`,
    );
  }
}

type AnyFn = (...args: unknown[]) => unknown;

function wrapSync(owner: Record<string, unknown>, name: string): void {
  const original = owner[name] as AnyFn;
  owner[name] = function (this: unknown, ...args: unknown[]) {
    check(args[0]);
    return original.apply(this, args);
  };
}

function wrapCallback(owner: Record<string, unknown>, name: string): void {
  const original = owner[name] as AnyFn;
  owner[name] = function (this: unknown, ...args: unknown[]) {
    // Thrown, not passed to the callback: the stack then points at the test's own line.
    check(args[0]);
    return original.apply(this, args);
  };
}

function wrapPromise(owner: Record<string, unknown>, name: string): void {
  const original = owner[name] as AnyFn;
  owner[name] = function (this: unknown, ...args: unknown[]) {
    try {
      check(args[0]);
    } catch (err) {
      return Promise.reject(err);
    }
    return original.apply(this, args);
  };
}

// On fs itself, not in a module variable: a process that runs several test files evaluates this module again.
const INSTALLED = Symbol.for('keygate.fs-guard');

/** Wraps node:fs and node:fs/promises (CommonJS objects and ESM named exports alike); once per process. */
export function installFsGuard(): void {
  const marked = fs as unknown as Record<symbol, boolean>;
  if (marked[INSTALLED]) return;
  marked[INSTALLED] = true;
  const sync = fs as unknown as Record<string, unknown>;
  for (const name of ['readFileSync', 'openSync', 'readdirSync', 'opendirSync', 'createReadStream']) wrapSync(sync, name);
  for (const name of ['readFile', 'open', 'readdir', 'opendir']) wrapCallback(sync, name);
  const promises = fs.promises as unknown as Record<string, unknown>;
  for (const name of ['readFile', 'open', 'readdir', 'opendir']) wrapPromise(promises, name);
  // `import { readFileSync } from 'node:fs'` binds to the ESM exports, a copy made at start-up.
  syncBuiltinESMExports();
}
