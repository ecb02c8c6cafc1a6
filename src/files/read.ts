/**
 * Reads a file named in a configuration or on a command line. When that fails, the
 * error is the caller's, built from the errno code alone: it names the file and what
 * it was for, never Node's text (which may quote the path twice) nor any content.
 */
import { readFileSync } from 'node:fs';

export function readFileOr(path: string, error: (errno: string, cause: unknown) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw error((err as NodeJS.ErrnoException).code ?? 'error', err);
  }
}
