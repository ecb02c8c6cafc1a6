/**
 * `mkdir -p`, one level at a time. Node's own `{ recursive: true }` never returns when
 * the file system answers ENOENT for a folder whose parent exists (`/proc/nope/data`:
 * procfs refuses new folders that way), spinning a core forever; here each level is
 * tried at most twice, and the file system's error (with its errno) is thrown as it came.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { dirname } from 'node:path';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export async function mkdirAll(path: string, mode: number): Promise<void> {
  const isDir = () =>
    fsp.stat(path).then(
      (st) => st.isDirectory(),
      () => false,
    );
  try {
    await fsp.mkdir(path, { mode });
    return;
  } catch (err) {
    if (code(err) === 'EEXIST' && (await isDir())) return;
    if (code(err) !== 'ENOENT' || dirname(path) === path) throw err;
  }
  await mkdirAll(dirname(path), mode);
  // The parent exists now: a second ENOENT is the file system's final answer.
  try {
    await fsp.mkdir(path, { mode });
  } catch (err) {
    if (!(code(err) === 'EEXIST' && (await isDir()))) throw err;
  }
}

export function mkdirAllSync(path: string, mode: number): void {
  const isDir = () => {
    try {
      return fs.statSync(path).isDirectory();
    } catch {
      return false;
    }
  };
  try {
    fs.mkdirSync(path, { mode });
    return;
  } catch (err) {
    if (code(err) === 'EEXIST' && isDir()) return;
    if (code(err) !== 'ENOENT' || dirname(path) === path) throw err;
  }
  mkdirAllSync(dirname(path), mode);
  try {
    fs.mkdirSync(path, { mode });
  } catch (err) {
    if (!(code(err) === 'EEXIST' && isDir())) throw err;
  }
}
