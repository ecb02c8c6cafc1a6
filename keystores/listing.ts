/**
 * Listing helpers every adapter shares, so `list` validates its arguments and
 * pages the same way whatever the backend.
 */
import { InvalidEntryNameError, isValidEntryName, type ListPage } from './keystore.js';

/**
 * Validates `list` arguments the same way in every adapter: `prefix` and
 * `continueAt` are '' or valid entry names (every non-empty prefix of a valid
 * name is itself valid), `limit` a positive integer. A bad limit is a
 * programming error, not a store failure, hence RangeError.
 */
export function checkListArgs(prefix: string, continueAt: string, limit: number): void {
  if (prefix !== '' && !isValidEntryName(prefix)) throw new InvalidEntryNameError(prefix);
  if (continueAt !== '' && !isValidEntryName(continueAt)) throw new InvalidEntryNameError(continueAt);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`keystore: list limit must be a positive integer, not ${limit}`);
}

/**
 * One page out of a sorted array of names: those starting with `prefix`, from
 * `continueAt` on (inclusive), at most `max`; `continueAt` of the page is the
 * next matching name or ''. Every name with a prefix sorts at or after the
 * prefix itself, so the page starts at the larger of the two bounds.
 */
export function pageFrom(sorted: readonly string[], prefix: string, continueAt: string, max: number): ListPage {
  let i = lowerBound(sorted, continueAt > prefix ? continueAt : prefix);
  const names: string[] = [];
  for (; i < sorted.length; i++) {
    const name = sorted[i] as string;
    if (!name.startsWith(prefix)) break;
    if (names.length === max) return { names, continueAt: name };
    names.push(name);
  }
  return { names, continueAt: '' };
}

/** Code-unit order: the order `list` promises, identical to byte order for entry names (all ASCII). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first element of `sorted` that is >= `key`. */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
